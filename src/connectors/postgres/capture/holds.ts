/**
 * The positions a capture's tables still need the stream from. The slot is confirmed up to
 * the lowest of them only, and only once every table of the capture has one: a table whose
 * source has not come up yet may resume from anywhere the slot still holds.
 */
export class Holds {
  private readonly tables = new Set<string>();
  private readonly positions = new Map<string, bigint>();
  /** Tables stopped by a definite error: they hold nothing back until they come back. */
  private readonly released = new Set<string>();

  /** `table` belongs to the capture. */
  register(table: string): void {
    this.tables.add(table);
  }

  /** `table` left the capture: it holds nothing any more. */
  unregister(table: string): void {
    this.tables.delete(table);
    this.positions.delete(table);
    this.released.delete(table);
  }

  /** `table` needs the stream from `lsn` on; a hold only moves forward (a restore may set it anew, lower). */
  set(table: string, lsn: bigint, restored = false): void {
    if (!this.tables.has(table)) return;
    this.released.delete(table);
    const now = this.positions.get(table);
    if (restored || now === undefined || lsn > now) this.positions.set(table, lsn);
  }

  /** `table` stopped for good: its position no longer holds the slot back. */
  release(table: string): void {
    if (!this.tables.has(table)) return;
    this.positions.delete(table);
    this.released.add(table);
  }

  /** The position of `table`, if it holds one. */
  of(table: string): bigint | undefined {
    return this.positions.get(table);
  }

  /** The lowest position any table holds (where a restarted stream must begin), or `null`. */
  lowest(): bigint | null {
    let low: bigint | null = null;
    for (const lsn of this.positions.values()) if (low === null || lsn < low) low = lsn;
    return low;
  }

  /** What the slot may be confirmed up to: `null` while a table of the capture has no position yet. */
  confirmable(): bigint | null {
    for (const table of this.tables) if (!this.positions.has(table) && !this.released.has(table)) return null;
    return this.lowest();
  }

  /** Every table and what it holds (`null`: none yet, or released). */
  entries(): Array<{ table: string; lsn: bigint | null; released: boolean }> {
    return [...this.tables].map((table) => ({ table, lsn: this.positions.get(table) ?? null, released: this.released.has(table) }));
  }
}
