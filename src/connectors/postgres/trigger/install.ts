/**
 * Installing, upgrading and removing trigger capture on one table: a change table, the
 * consumers' progress and epoch tables, and a trigger function in a schema of their own
 * (`refstream` by default),
 * and AFTER INSERT/UPDATE/DELETE/TRUNCATE statement triggers on the table.
 *
 * Installing needs ownership of the table (ALTER TABLE … ENABLE ALWAYS TRIGGER) and CREATE on
 * the schema (or on the database, to create the schema); no replication privilege. It runs in
 * one transaction that locks the table against writes (as CREATE TRIGGER does), so every
 * transaction is either entirely before the triggers or entirely captured. Running it again
 * converges whatever is there — an older version, a disabled or missing trigger, a missing
 * index — to the current layout, keeping the change rows.
 */
import { definite, ConnectorError } from '../../../sdk/errors.js';
import type { Queryable } from '../queryable.js';
import { mapPgError } from '../errors.js';
import { displayName, quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from '../identifiers.js';
import {
  captureComment,
  defaultTriggerObjects,
  metadataFor,
  parseCaptureComment,
  TRIGGER_CAPTURE_VERSION,
  TRIGGER_NAMES,
  CAPTURE_COMMENT_PREFIX,
  DEFAULT_TRIGGER_SCHEMA,
  type CaptureMetadata,
  type TriggerObjects,
} from './objects.js';

/** The table as installing needs it. */
export interface CapturedTable {
  oid: number;
  name: QualifiedName;
  primaryKey: readonly string[];
}

/** A trigger of refstream's on the table: its name and `tgenabled` (`A` always, `O` origin, `D` disabled, `R` replica). */
export interface InstalledTrigger {
  name: string;
  enabled: string;
}

/** What is installed for a table (found through its triggers, or the function's metadata). */
export interface Installation {
  objects: TriggerObjects;
  /** The function's metadata; `null` when the function is gone or its comment unreadable. */
  meta: CaptureMetadata | null;
  triggers: InstalledTrigger[];
  changesExists: boolean;
  consumersExists: boolean;
  epochsExists: boolean;
}

/** Options of {@link installTriggerCapture}. */
export interface InstallOptions {
  /** Schema of the objects (default `refstream`). */
  schema?: string;
  /** Signal a NOTIFY channel after every statement that changed rows (default true). */
  notify?: boolean;
  /** Longest wait for the table lock (ms); 0 waits for ever (default 10 s). */
  lockTimeoutMs?: number;
}

/** What {@link installTriggerCapture} did. */
export interface InstallResult {
  action: 'installed' | 'upgraded' | 'unchanged' | 'repaired';
  /** The version found before, when there was one. */
  from: number | null;
  objects: TriggerObjects;
}

async function q<T>(client: Queryable, sql: string, params: unknown[], table: string, context: string): Promise<T[]> {
  try {
    return (await client.query(sql, params)).rows as T[];
  } catch (error) {
    throw mapPgError(error, table, context);
  }
}

/** The capture functions on the server (every schema), with their metadata. */
export async function listCaptureFunctions(client: Queryable): Promise<{ schema: string; fn: string; meta: CaptureMetadata | null }[]> {
  const rows = await q<{ schema: string; fn: string; comment: string | null }>(
    client,
    `SELECT n.nspname AS schema, p.proname AS fn, d.description AS comment
       FROM pg_description d JOIN pg_proc p ON p.oid = d.objoid JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE d.classoid = 'pg_proc'::regclass AND starts_with(d.description, $1)
      ORDER BY 1, 2`,
    [CAPTURE_COMMENT_PREFIX],
    '',
    'reading trigger capture functions',
  );
  return rows.map((r) => ({ schema: r.schema, fn: r.fn, meta: parseCaptureComment(r.comment) }));
}

/**
 * What is installed for the table with oid `tableOid`: found through refstream's triggers on it,
 * else through a capture function whose metadata names the oid. `null` when neither exists.
 */
export async function readInstallation(client: Queryable, tableOid: number, table: string): Promise<Installation | null> {
  const triggers = await q<{ name: string; enabled: string; schema: string; fn: string; comment: string | null }>(
    client,
    `SELECT t.tgname AS name, t.tgenabled::text AS enabled, n.nspname AS schema, p.proname AS fn,
            obj_description(p.oid, 'pg_proc') AS comment
       FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE t.tgrelid = $1 AND starts_with(t.tgname, 'refstream_capture') AND NOT t.tgisinternal
      ORDER BY t.tgname`,
    [tableOid],
    table,
    'reading the capture triggers',
  );
  let schema: string;
  let fn: string;
  let meta: CaptureMetadata | null;
  const withMeta = triggers.find((t) => parseCaptureComment(t.comment) !== null);
  if (withMeta) {
    schema = withMeta.schema;
    fn = withMeta.fn;
    meta = parseCaptureComment(withMeta.comment);
  } else {
    const found = (await listCaptureFunctions(client)).find((f) => f.meta?.oid === String(tableOid));
    if (!found) {
      if (triggers.length === 0) return null;
      // triggers of refstream's whose function lost its comment: still something to repair or remove
      schema = triggers[0]!.schema;
      fn = triggers[0]!.fn;
      meta = null;
    } else {
      schema = found.schema;
      fn = found.fn;
      meta = found.meta;
    }
  }
  const changes = meta?.changes ?? null;
  const consumers = meta?.consumers ?? null;
  const epochs = meta?.epochs ?? null;
  const present = await tablesIn(client, schema, [changes, consumers, epochs], table);
  const exists = [{ changes: present[0]!, consumers: present[1]!, epochs: present[2]! }];
  return {
    objects: {
      schema,
      fn,
      changes: changes ?? '',
      consumers: consumers ?? '',
      epochs: epochs ?? '',
      channel: meta?.channel ?? '',
    },
    meta,
    triggers: triggers.map((t) => ({ name: t.name, enabled: t.enabled })),
    changesExists: exists[0]!.changes,
    consumersExists: exists[0]!.consumers,
    epochsExists: exists[0]!.epochs,
  };
}

/**
 * Whether each named table exists in `schema` (from the catalog: no USAGE on the schema is
 * needed, so a role without it still gets a clear answer). `null` names are absent.
 */
export async function tablesIn(client: Queryable, schema: string, names: (string | null)[], table: string): Promise<boolean[]> {
  const rows = await q<{ relname: string }>(
    client,
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2::text[])`,
    [schema, names.filter((n) => n !== null)],
    table,
    'reading the capture tables',
  );
  const found = new Set(rows.map((r) => r.relname));
  return names.map((n) => n !== null && found.has(n));
}

/**
 * Why an installation cannot capture every change of the table now, or `null` when it can.
 * The key it detects key changes on must be the table's key today.
 */
export function installationProblem(inst: Installation | null, table: { oid: number; primaryKey: readonly string[] }): string | null {
  if (inst === null) return 'trigger capture is not installed';
  if (inst.meta === null) return `the trigger function ${inst.objects.schema}.${inst.objects.fn} has no readable refstream metadata`;
  if (inst.meta.version !== TRIGGER_CAPTURE_VERSION)
    return `the installed objects are version ${inst.meta.version}, this refstream uses version ${TRIGGER_CAPTURE_VERSION}`;
  if (inst.meta.oid !== String(table.oid)) return `the trigger function was installed for another table (oid ${inst.meta.oid})`;
  if (inst.meta.key.join(',') !== table.primaryKey.join(','))
    return `the triggers detect key changes on (${inst.meta.key.join(', ')}), the table is now keyed on (${table.primaryKey.join(', ')})`;
  if (!inst.changesExists) return `the change table ${inst.objects.schema}.${inst.meta.changes} is missing`;
  if (!inst.consumersExists) return `the consumers table ${inst.objects.schema}.${inst.meta.consumers} is missing`;
  if (!inst.epochsExists) return `the epochs table ${inst.objects.schema}.${inst.meta.epochs} is missing`;
  for (const name of Object.values(TRIGGER_NAMES)) {
    const trigger = inst.triggers.find((t) => t.name === name);
    if (!trigger) return `trigger ${name} is missing`;
    if (trigger.enabled !== 'A') return `trigger ${name} is not enabled ALWAYS (tgenabled ${trigger.enabled}): changes may not be captured`;
  }
  return null;
}

/**
 * Checks the privileges installing needs and fails with a definite `PERMISSION_DENIED` naming
 * the missing one: ownership of the table, and CREATE on the schema (or on the database when
 * the schema does not exist yet).
 */
export async function checkInstallPrivileges(client: Queryable, table: CapturedTable, schema: string): Promise<void> {
  const display = displayName(table.name);
  const [row] = await q<{
    owner: boolean;
    owner_name: string;
    me: string;
    db: string;
    schema_exists: boolean;
    create_schema: boolean;
    create_db: boolean;
  }>(
    client,
    `SELECT pg_has_role(c.relowner, 'USAGE') AS owner, pg_get_userbyid(c.relowner) AS owner_name, current_user AS me,
            current_database() AS db,
            EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2) AS schema_exists,
            CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2) THEN has_schema_privilege($2, 'CREATE') ELSE false END AS create_schema,
            has_database_privilege(current_database(), 'CREATE') AS create_db
       FROM pg_class c WHERE c.oid = $1`,
    [table.oid, schema],
    display,
    'checking privileges',
  );
  if (!row) throw definite('TABLE_NOT_FOUND', `table ${display} does not exist`, { table: display });
  if (!row.owner) {
    throw definite(
      'PERMISSION_DENIED',
      `role ${row.me} may not install trigger capture on ${display}: that needs ownership of the table (its owner is role ${row.owner_name}); ENABLE ALWAYS TRIGGER and DROP TRIGGER are reserved to the owner`,
      {
        table: display,
        hint: `run it as the owner (${row.owner_name}) or a member of that role: GRANT ${quoteIdent(row.owner_name)} TO ${quoteIdent(row.me)}; (no replication privilege is needed)`,
      },
    );
  }
  if (row.schema_exists && !row.create_schema) {
    throw definite(
      'PERMISSION_DENIED',
      `role ${row.me} may not install trigger capture on ${display}: that needs the CREATE privilege on schema ${schema}`,
      {
        table: display,
        hint: `GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(schema)} TO ${quoteIdent(row.me)}; or install into a schema the role may create in (triggerSchema, CLI --trigger-schema)`,
      },
    );
  }
  if (!row.schema_exists && !row.create_db) {
    throw definite(
      'PERMISSION_DENIED',
      `role ${row.me} may not install trigger capture on ${display}: schema ${schema} does not exist, and creating it needs the CREATE privilege on database ${row.db}`,
      {
        table: display,
        hint: `CREATE SCHEMA ${quoteIdent(schema)} AUTHORIZATION ${quoteIdent(row.me)}; (as a role that may), or GRANT CREATE ON DATABASE ${quoteIdent(row.db)} TO ${quoteIdent(row.me)}; or install into an existing schema (triggerSchema, CLI --trigger-schema)`,
      },
    );
  }
}

/** The body of the capture function (statement triggers with transition tables). */
export function captureFunctionSql(objects: TriggerObjects, key: readonly string[], channel: string | null): string {
  const changes = `${quoteIdent(objects.schema)}.${quoteIdent(objects.changes)}`;
  const keyOf = (alias: string) => `(${key.map((k) => `${alias}.${quoteIdent(k)}`).join(', ')})`;
  const notify = channel === null ? '' : `\n  IF FOUND THEN PERFORM pg_notify(${quoteLiteral(channel)}, ''); END IF;`;
  // A key change is written as the delete of the old key before the new row: a statement's
  // rows never share a key, so deleting first and upserting after is the statement's effect.
  return `CREATE OR REPLACE FUNCTION ${quoteIdent(objects.schema)}.${quoteIdent(objects.fn)}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $refstream$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO ${changes} (op, image) SELECT 'i', record_send(n.*) FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO ${changes} (op, image)
      SELECT 'd', record_send(o.*) FROM old_rows o WHERE NOT EXISTS (SELECT FROM new_rows n WHERE ${keyOf('n')} = ${keyOf('o')});
    INSERT INTO ${changes} (op, image)
      SELECT CASE WHEN EXISTS (SELECT FROM old_rows o WHERE ${keyOf('o')} = ${keyOf('n')}) THEN 'u' ELSE 'i' END, record_send(n.*) FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO ${changes} (op, image) SELECT 'd', record_send(o.*) FROM old_rows o;
  ELSE
    INSERT INTO ${changes} (op) VALUES ('t');
  END IF;${notify}
  RETURN NULL;
END
$refstream$`;
}

/** Name of the change table's index on `xid`. */
export function xidIndexName(objects: TriggerObjects): string {
  return objects.changes.length <= 59 ? `${objects.changes}_xid` : `${objects.changes.slice(0, 50)}_${hash8(objects.changes)}_xid`;
}

function hash8(text: string): string {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return h.toString(16).padStart(8, '0').slice(0, 8);
}

/**
 * Installs trigger capture on `table`, or converges what is there to the current version.
 * Fails with a definite `PERMISSION_DENIED` naming a missing privilege, and with
 * `CONFIG_INVALID` when a newer refstream installed the objects.
 */
export async function installTriggerCapture(client: Queryable, table: CapturedTable, options: InstallOptions = {}): Promise<InstallResult> {
  const display = displayName(table.name);
  const existing = await readInstallation(client, table.oid, display);
  const schema = existing?.objects.schema ?? options.schema ?? DEFAULT_TRIGGER_SCHEMA;
  if (existing?.meta && existing.meta.version > TRIGGER_CAPTURE_VERSION) {
    throw definite(
      'CONFIG_INVALID',
      `trigger capture on ${display} was installed by a newer refstream (version ${existing.meta.version}; this one knows ${TRIGGER_CAPTURE_VERSION})`,
      { table: display, hint: 'use that refstream version (or newer) for this table' },
    );
  }
  await checkInstallPrivileges(client, table, schema);
  const defaults = defaultTriggerObjects(table.name, schema);
  const objects: TriggerObjects = {
    ...defaults,
    ...(existing?.meta?.changes ? { changes: existing.meta.changes } : {}),
    ...(existing?.meta?.consumers ? { consumers: existing.meta.consumers } : {}),
    ...(existing?.meta?.epochs ? { epochs: existing.meta.epochs } : {}),
  };
  // objects under these names that belong to another table's capture
  const orphan = existing === null ? await otherOwner(client, objects, table, display) : null;
  const notify = options.notify ?? (existing?.meta ? existing.meta.channel !== null : true);
  const meta = metadataFor(table, objects, notify);
  const unchanged =
    existing !== null &&
    installationProblem(existing, table) === null &&
    existing.objects.fn === objects.fn &&
    JSON.stringify(existing.meta) === JSON.stringify(meta);
  const run = (sql: string, context: string) => q(client, sql, [], display, context);
  const tableSql = quoteQualified(table.name);
  const changes = `${quoteIdent(schema)}.${quoteIdent(objects.changes)}`;
  const consumers = `${quoteIdent(schema)}.${quoteIdent(objects.consumers)}`;
  const epochs = `${quoteIdent(schema)}.${quoteIdent(objects.epochs)}`;
  const fn = `${quoteIdent(schema)}.${quoteIdent(objects.fn)}`;
  await run('BEGIN', 'installing trigger capture');
  try {
    const timeout = options.lockTimeoutMs ?? 10_000;
    await run(`SET LOCAL lock_timeout = ${Math.max(0, Math.floor(timeout))}`, 'installing trigger capture');
    // no write can run while the triggers change: each transaction is captured whole or not at all
    await run(`LOCK TABLE ${tableSql} IN SHARE ROW EXCLUSIVE MODE`, 'locking the table to install triggers');
    if (orphan) {
      // left behind by a dropped table of the same name: its rows and consumers mean nothing here
      for (const name of [objects.changes, objects.consumers, objects.epochs])
        await run(`DROP TABLE IF EXISTS ${quoteIdent(schema)}.${quoteIdent(name)}`, 'removing the objects of a dropped table');
    }
    // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists
    const [present] = await q<{ n: number }>(
      client,
      'SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1',
      [schema],
      display,
      'reading the schema',
    );
    if (present!.n === 0) await run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`, 'creating the schema');
    await run(
      `CREATE TABLE IF NOT EXISTS ${changes} (
         seq bigint GENERATED ALWAYS AS IDENTITY,
         xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
         op "char" NOT NULL,
         image bytea
       )`,
      'creating the change table',
    );
    // columns an older layout may lack (each is added empty, as it was for the rows it holds)
    await run(`ALTER TABLE ${changes} ADD COLUMN IF NOT EXISTS image bytea`, 'upgrading the change table');
    await run(`CREATE INDEX IF NOT EXISTS ${quoteIdent(xidIndexName(objects))} ON ${changes} (xid)`, 'indexing the change table');
    await run(
      `COMMENT ON TABLE ${changes} IS ${quoteLiteral(`refstream trigger capture: changes of ${display} (rows are deleted once every consumer has committed them)`)}`,
      'commenting the change table',
    );
    await run(
      `CREATE TABLE IF NOT EXISTS ${consumers} (
         consumer text PRIMARY KEY,
         delivered pg_snapshot NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT now()
       )`,
      'creating the consumers table',
    );
    await run(
      `COMMENT ON TABLE ${consumers} IS ${quoteLiteral(`refstream trigger capture: consumers of ${display} and the snapshot each has committed`)}`,
      'commenting the consumers table',
    );
    await run(
      `CREATE TABLE IF NOT EXISTS ${epochs} (
         consumer text NOT NULL,
         id bigint GENERATED ALWAYS AS IDENTITY,
         snapshot pg_snapshot NOT NULL,
         PRIMARY KEY (consumer, id)
       )`,
      'creating the epochs table',
    );
    await run(
      `COMMENT ON TABLE ${epochs} IS ${quoteLiteral(`refstream trigger capture: epochs of ${display} each consumer has read past its committed checkpoint`)}`,
      'commenting the epochs table',
    );
    await run(captureFunctionSql(objects, table.primaryKey, meta.channel), 'creating the capture function');
    await run(`COMMENT ON FUNCTION ${fn}() IS ${quoteLiteral(captureComment(meta))}`, 'commenting the capture function');
    // triggers of an older layout under other names go; the current ones are (re)created
    const current = new Set<string>(Object.values(TRIGGER_NAMES));
    for (const t of existing?.triggers ?? []) {
      if (!current.has(t.name)) await run(`DROP TRIGGER IF EXISTS ${quoteIdent(t.name)} ON ${tableSql}`, 'removing an old trigger');
    }
    const create = (name: string, event: string, referencing: string) =>
      run(
        `CREATE OR REPLACE TRIGGER ${quoteIdent(name)} AFTER ${event} ON ${tableSql}${referencing} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
        'creating a capture trigger',
      );
    await create(TRIGGER_NAMES.insert, 'INSERT', ' REFERENCING NEW TABLE AS new_rows');
    await create(TRIGGER_NAMES.update, 'UPDATE', ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows');
    await create(TRIGGER_NAMES.delete, 'DELETE', ' REFERENCING OLD TABLE AS old_rows');
    await create(TRIGGER_NAMES.truncate, 'TRUNCATE', '');
    // ALWAYS: also under session_replication_role = replica (pg_restore, logical replication apply)
    for (const name of current)
      await run(`ALTER TABLE ${tableSql} ENABLE ALWAYS TRIGGER ${quoteIdent(name)}`, 'enabling a capture trigger');
    if (existing && existing.objects.fn !== objects.fn) {
      await run(
        `DROP FUNCTION IF EXISTS ${quoteIdent(existing.objects.schema)}.${quoteIdent(existing.objects.fn)}()`,
        'removing the old function',
      );
    }
    await run('COMMIT', 'installing trigger capture');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw installError(error, display);
  }
  const from = existing?.meta?.version ?? null;
  const action =
    existing === null ? 'installed' : unchanged ? 'unchanged' : from !== null && from < TRIGGER_CAPTURE_VERSION ? 'upgraded' : 'repaired';
  return { action, from, objects };
}

/**
 * Whether the objects named `objects` belong to the capture of another table: `true` when that
 * table was dropped (the objects are orphaned and may be replaced), `null` when they belong to
 * no capture. A table that still exists keeps them: definite `CONFIG_INVALID`.
 */
async function otherOwner(client: Queryable, objects: TriggerObjects, table: CapturedTable, display: string): Promise<true | null> {
  const other = (await listCaptureFunctions(client)).find((f) => f.schema === objects.schema && f.fn === objects.fn && f.meta !== null);
  if (!other || other.meta!.oid === String(table.oid)) return null;
  const [alive] = await q<{ name: string }>(
    client,
    `SELECT c.oid::regclass::text AS name FROM pg_class c WHERE c.oid = $1::oid`,
    [other.meta!.oid],
    display,
    'reading the captured table',
  );
  if (!alive) return true;
  throw definite(
    'CONFIG_INVALID',
    `the trigger capture objects ${objects.schema}.${objects.changes} and ${objects.schema}.${objects.fn}() belong to table ${alive.name} (installed as ${other.meta!.table}), not to ${display}`,
    {
      table: display,
      hint: `install into another schema (--trigger-schema), or remove the capture of ${alive.name} first (refstream uninstall-triggers --table ${alive.name})`,
    },
  );
}

function installError(error: unknown, table: string): ConnectorError {
  const mapped = mapPgError(error, table, 'installing trigger capture');
  if (mapped.code === 'PERMISSION_DENIED' || /must be owner/i.test(mapped.message)) {
    return definite('PERMISSION_DENIED', mapped.message, {
      table,
      cause: error,
      hint: `install as the role that owns ${table} and the existing trigger capture objects (or a member of it)`,
    });
  }
  return mapped;
}

/** What {@link uninstallTriggerCapture} removed. */
export interface UninstallResult {
  found: boolean;
  triggers: string[];
  objects: TriggerObjects | null;
  schemaDropped: boolean;
}

/**
 * Removes trigger capture from a table: its refstream triggers, the function, the change and
 * consumers tables, and the schema when nothing else is left in it. Removing what is not there
 * is not an error. `table` may be gone already (its triggers went with it).
 */
export async function uninstallTriggerCapture(
  client: Queryable,
  table: { oid: number | null; name: QualifiedName },
  options: { lockTimeoutMs?: number } = {},
): Promise<UninstallResult> {
  const display = displayName(table.name);
  let inst: Installation | null = null;
  if (table.oid !== null) inst = await readInstallation(client, table.oid, display);
  if (inst === null) {
    // the table is gone (or was renamed): its capture function still names it
    const found = (await listCaptureFunctions(client)).find((f) => f.meta?.table === display);
    if (found?.meta) {
      inst = {
        objects: {
          schema: found.schema,
          fn: found.fn,
          changes: found.meta.changes,
          consumers: found.meta.consumers,
          epochs: found.meta.epochs,
          channel: found.meta.channel ?? '',
        },
        meta: found.meta,
        triggers: [],
        changesExists: true,
        consumersExists: true,
        epochsExists: true,
      };
    }
  }
  if (inst === null) return { found: false, triggers: [], objects: null, schemaDropped: false };
  const run = (sql: string, context: string) => q(client, sql, [], display, context);
  const o = inst.objects;
  const fallback = defaultTriggerObjects(table.name, o.schema);
  const changes = o.changes || fallback.changes;
  const consumers = o.consumers || fallback.consumers;
  const epochs = o.epochs || fallback.epochs;
  await run('BEGIN', 'removing trigger capture');
  try {
    await run(`SET LOCAL lock_timeout = ${Math.max(0, Math.floor(options.lockTimeoutMs ?? 10_000))}`, 'removing trigger capture');
    if (table.oid !== null && inst.triggers.length > 0) {
      const tableSql = quoteQualified(table.name);
      for (const t of inst.triggers) await run(`DROP TRIGGER IF EXISTS ${quoteIdent(t.name)} ON ${tableSql}`, 'removing a capture trigger');
    }
    await run(`DROP FUNCTION IF EXISTS ${quoteIdent(o.schema)}.${quoteIdent(o.fn)}()`, 'removing the capture function');
    await run(`DROP TABLE IF EXISTS ${quoteIdent(o.schema)}.${quoteIdent(changes)}`, 'removing the change table');
    await run(`DROP TABLE IF EXISTS ${quoteIdent(o.schema)}.${quoteIdent(consumers)}`, 'removing the consumers table');
    await run(`DROP TABLE IF EXISTS ${quoteIdent(o.schema)}.${quoteIdent(epochs)}`, 'removing the epochs table');
    await run('COMMIT', 'removing trigger capture');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw installError(error, display);
  }
  let schemaDropped = false;
  if (o.schema === DEFAULT_TRIGGER_SCHEMA) {
    // only an empty schema of refstream's own name goes; anything left in it keeps it
    const [left] = await q<{ n: number }>(
      client,
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
      [o.schema],
      display,
      'reading the schema',
    );
    const [fns] = await q<{ n: number }>(
      client,
      `SELECT count(*)::int AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1`,
      [o.schema],
      display,
      'reading the schema',
    );
    if (left!.n === 0 && fns!.n === 0) {
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(o.schema)}`);
        schemaDropped = true;
      } catch {
        // another object (or another owner's schema): it stays
      }
    }
  }
  return { found: true, triggers: inst.triggers.map((t) => t.name), objects: { ...o, changes, consumers, epochs }, schemaDropped };
}
