/** Anything that runs SQL like a `pg` client or pool (a user's pool, a client, a test server). */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}
