/**
 * Installing and removing trigger capture: idempotent installs, an older or damaged install
 * converged to the current layout without losing change rows, a newer one refused, removal
 * that leaves the table as it was, and clear errors naming the privilege a role lacks.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import {
  installTriggers,
  installationProblem,
  parseQualifiedName,
  PostgresSource,
  readInstallation,
  TRIGGER_CAPTURE_VERSION,
  uninstallTriggers,
} from '../../src/connectors/postgres/index.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { drainSnapshot, pollChanges, uniqueName } from './helpers.js';

let server: TestPostgres;

before(async () => {
  server = await startPostgres({ walLevel: 'replica' });
});
after(async () => {
  await server?.stop();
});

/** A connection as `user` (the test server trusts local connections). */
async function connectAs(user = 'postgres'): Promise<pg.Client> {
  const url = new URL(server.connectionString);
  url.username = user;
  url.password = '';
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  return c;
}

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, user?: string): Promise<T> {
  const c = await connectAs(user);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function createTable(name: string): Promise<void> {
  await server.query(`CREATE TABLE ${name} (id int PRIMARY KEY, v text)`);
}

async function problemOf(c: pg.Client, table: string): Promise<string | null> {
  const [{ oid }] = (await c.query<{ oid: number }>(`SELECT $1::regclass::oid::int AS oid`, [table])).rows as [{ oid: number }];
  return installationProblem(await readInstallation(c, oid, table), { oid, primaryKey: ['id'] });
}

describe('install-triggers and uninstall-triggers', () => {
  it('installing twice changes nothing the second time; the objects capture every change', async () => {
    const table = uniqueName('twice');
    await createTable(table);
    await withClient(async (c) => {
      const first = await installTriggers(c, parseQualifiedName(table)!);
      assert.equal(first.action, 'installed');
      await c.query(`INSERT INTO ${table} VALUES (1, 'a')`);
      const second = await installTriggers(c, parseQualifiedName(table)!);
      assert.equal(second.action, 'unchanged');
      assert.deepEqual(second.objects, first.objects);
      assert.equal(await problemOf(c, table), null);
      const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM refstream.${first.objects.changes}`);
      assert.equal(rows[0]!.n, 1, 'the change row written before the second install is kept');
      const triggers = await c.query<{ tgname: string; tgenabled: string }>(
        `SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY 1`,
        [table],
      );
      assert.deepEqual(
        triggers.rows.map((t) => `${t.tgname}:${t.tgenabled}`),
        ['refstream_capture_delete:A', 'refstream_capture_insert:A', 'refstream_capture_truncate:A', 'refstream_capture_update:A'],
      );
    });
  });

  it('an older, damaged install is converged to the current version, keeping its change rows and capturing each later change once', async () => {
    const table = uniqueName('upgrade');
    await createTable(table);
    const objects = await withClient((c) => installTriggers(c, parseQualifiedName(table)!).then((r) => r.objects));
    const source = new PostgresSource({ connectionString: server.connectionString, table, capture: 'trigger', maxWaitMs: 200 });
    try {
      await drainSnapshot(source);
      await server.query(`INSERT INTO ${table} VALUES (1, 'before the upgrade')`);
      // what an older refstream may have left: another function name and version, an obsolete
      // row trigger, a disabled and a missing trigger, no index
      const old = `capture_old_${table}`;
      await withClient(async (c) => {
        await c.query(`ALTER FUNCTION refstream.${objects.fn}() RENAME TO ${old}`);
        const meta = JSON.parse(
          (await c.query<{ d: string }>(`SELECT obj_description('refstream.${old}()'::regprocedure) AS d`)).rows[0]!.d.replace(
            'refstream trigger capture ',
            '',
          ),
        ) as Record<string, unknown>;
        await c.query(`COMMENT ON FUNCTION refstream.${old}() IS 'refstream trigger capture ${JSON.stringify({ ...meta, version: 0 })}'`);
        await c.query(`ALTER TABLE ${table} DISABLE TRIGGER refstream_capture_update`);
        await c.query(`DROP TRIGGER refstream_capture_truncate ON ${table}`);
        await c.query(
          `CREATE TRIGGER refstream_capture_rows AFTER DELETE ON ${table} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION refstream.${old}()`,
        );
        await c.query(`DROP INDEX refstream.${objects.changes}_xid`);
        assert.match((await problemOf(c, table))!, /version 0/);
      });
      const result = await withClient((c) => installTriggers(c, parseQualifiedName(table)!));
      assert.equal(result.action, 'upgraded');
      assert.equal(result.from, 0);
      await withClient(async (c) => {
        assert.equal(await problemOf(c, table), null);
        const fns = await c.query(`SELECT 1 FROM pg_proc WHERE proname = $1`, [old]);
        assert.equal(fns.rows.length, 0, 'the old function is gone');
        const names = await c.query<{ tgname: string }>(`SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`, [
          table,
        ]);
        assert.ok(!names.rows.some((t) => t.tgname === 'refstream_capture_rows'), 'the obsolete trigger is gone');
        const index = await c.query(`SELECT 1 FROM pg_class WHERE relname = $1`, [`${objects.changes}_xid`]);
        assert.equal(index.rows.length, 1, 'the index is back');
        const [{ v }] = (
          await c.query<{ v: number }>(
            `SELECT (obj_description('refstream.${objects.fn}()'::regprocedure)::text ~ '"version":${TRIGGER_CAPTURE_VERSION},')::int AS v`,
          )
        ).rows as [{ v: number }];
        assert.equal(v, 1);
      });
      await server.query(`UPDATE ${table} SET v = 'after the upgrade' WHERE id = 1`);
      await server.query(`DELETE FROM ${table} WHERE id = 1`);
      const rows = await pollChanges(source, 3);
      assert.deepEqual(
        rows.map((r) => [r.type, r.values[1] ?? null]),
        [
          ['insert', 'before the upgrade'],
          ['update', 'after the upgrade'],
          ['delete', null],
        ],
      );
      await new Promise((r) => setTimeout(r, 300));
      const more = [];
      for (let i = 0; i < 3; i++) {
        const b = await source.pollChanges();
        if (b) more.push(b.numRows);
      }
      assert.deepEqual(more, [], 'each change once');
    } finally {
      await source.close();
    }
  });

  it('objects named for a table that was renamed stay with it: a new table of the old name is refused, with the way out', async () => {
    const table = uniqueName('renamed');
    await createTable(table);
    await withClient(async (c) => {
      await installTriggers(c, parseQualifiedName(table)!);
      await c.query(`ALTER TABLE ${table} RENAME TO ${table}_old`);
      await createTable(table);
      await assert.rejects(installTriggers(c, parseQualifiedName(table)!), (e: unknown) => {
        assert.ok(ConnectorError.is(e, 'CONFIG_INVALID'), String(e));
        assert.match((e as Error).message, new RegExp(`belong to table ${table}_old \\(installed as public\\.${table}\\)`));
        assert.match((e as ConnectorError).hint ?? '', /--trigger-schema/);
        return true;
      });
      // the renamed table is still captured
      assert.equal(await problemOf(c, `${table}_old`), null);
      const other = await installTriggers(c, parseQualifiedName(table)!, { schema: 'public' });
      assert.equal(other.action, 'installed');
    });
  });

  it('objects of a newer refstream are refused, not downgraded', async () => {
    const table = uniqueName('newer');
    await createTable(table);
    await withClient(async (c) => {
      const { objects } = await installTriggers(c, parseQualifiedName(table)!);
      const d = (await c.query<{ d: string }>(`SELECT obj_description('refstream.${objects.fn}()'::regprocedure) AS d`)).rows[0]!.d;
      await c.query(`COMMENT ON FUNCTION refstream.${objects.fn}() IS '${d.replace(/"version":\d+/, '"version":99')}'`);
      await assert.rejects(
        installTriggers(c, parseQualifiedName(table)!),
        (e: unknown) => ConnectorError.is(e, 'CONFIG_INVALID') && /newer refstream \(version 99/.test((e as Error).message),
      );
    });
  });

  it('uninstalling removes every object (twice is fine), the schema once empty, and leaves the table writable', async () => {
    const a = uniqueName('un_a');
    const b = uniqueName('un_b');
    await createTable(a);
    await createTable(b);
    await withClient(async (c) => {
      await installTriggers(c, parseQualifiedName(a)!);
      await installTriggers(c, parseQualifiedName(b)!);
      const first = await uninstallTriggers(c, parseQualifiedName(a)!);
      assert.equal(first.uninstalled?.found, true);
      assert.equal(first.uninstalled?.schemaDropped, false, `${b} still uses the schema`);
      assert.deepEqual((await uninstallTriggers(c, parseQualifiedName(a)!)).uninstalled, null, 'nothing left to remove');
      await c.query(`INSERT INTO ${a} VALUES (1, 'x')`);
      const left = await c.query(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'refstream' AND c.relname LIKE $1`,
        [`%${a}%`],
      );
      assert.deepEqual(left.rows, []);
      const second = await uninstallTriggers(c, parseQualifiedName(b)!);
      assert.equal(second.uninstalled?.found, true);
      const schemas = await c.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'refstream'`);
      assert.equal(schemas.rows.length, second.uninstalled?.schemaDropped ? 0 : 1);
    });
  });

  it('a role that does not own the table gets PERMISSION_DENIED naming the ownership it lacks; without CREATE on the database, the schema privilege', async () => {
    const table = uniqueName('owned');
    await createTable(table);
    const app = uniqueName('app');
    const owner = uniqueName('owner');
    await server.query(`CREATE ROLE ${app} LOGIN`);
    await server.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${app}`);
    await server.query(`CREATE ROLE ${owner} LOGIN`);
    await server.query(`CREATE SCHEMA ${owner} AUTHORIZATION ${owner}`);
    await server.query(`DROP SCHEMA IF EXISTS refstream CASCADE`);
    await withClient(async (c) => {
      await assert.rejects(installTriggers(c, parseQualifiedName(table)!), (e: unknown) => {
        assert.ok(ConnectorError.is(e, 'PERMISSION_DENIED'), String(e));
        assert.match(
          (e as Error).message,
          new RegExp(
            `role ${app} may not install trigger capture on public\\.${table}: that needs ownership of the table \\(its owner is role postgres\\)`,
          ),
        );
        assert.match((e as ConnectorError).hint ?? '', /GRANT "postgres" TO/);
        return true;
      });
      const source = new PostgresSource({ connectionString: urlFor(app), table, capture: 'trigger', installTriggers: true });
      await assert.rejects(
        source.pollSnapshot(),
        (e: unknown) => ConnectorError.is(e, 'PERMISSION_DENIED') && /ownership/.test((e as Error).message),
      );
      await source.close();
    }, app);
    await withClient(async (c) => {
      await c.query(`CREATE TABLE ${owner}.t (id int PRIMARY KEY, v text)`);
      await assert.rejects(installTriggers(c, { schema: owner, name: 't' }), (e: unknown) => {
        assert.ok(ConnectorError.is(e, 'PERMISSION_DENIED'), String(e));
        assert.match(
          (e as Error).message,
          /schema refstream does not exist, and creating it needs the CREATE privilege on database postgres/,
        );
        return true;
      });
      // table-owner rights are enough in a schema the owner may create in
      const result = await installTriggers(c, { schema: owner, name: 't' }, { schema: owner });
      assert.equal(result.action, 'installed');
      await c.query(`INSERT INTO ${owner}.t VALUES (1, 'x')`);
    }, owner);
    const source = new PostgresSource({ connectionString: urlFor(owner), table: `${owner}.t`, capture: 'trigger', maxWaitMs: 200 });
    try {
      const snapshot = await drainSnapshot(source);
      assert.equal(
        snapshot.reduce((n, b) => n + b.numRows, 0),
        1,
      );
      await server.query(`INSERT INTO ${owner}.t VALUES (2, 'y')`);
      const rows = await pollChanges(source, 1);
      assert.equal(rows[0]!.values[0], 2);
    } finally {
      await source.close();
    }
  });

  it('a reader role without rights on the capture objects gets PERMISSION_DENIED whose hint lists the grants, and reads once they are given', async () => {
    const table = uniqueName('granted');
    await createTable(table);
    await server.query(`INSERT INTO ${table} VALUES (1, 'a')`);
    const viewer = uniqueName('viewer');
    await server.query(`CREATE ROLE ${viewer} LOGIN`);
    await server.query(`GRANT SELECT ON ${table} TO ${viewer}`);
    await withClient((c) => installTriggers(c, parseQualifiedName(table)!));
    const refused = new PostgresSource({ connectionString: urlFor(viewer), table, capture: 'trigger', maxWaitMs: 200 });
    let hint = '';
    await assert.rejects(refused.pollSnapshot(), (e: unknown) => {
      assert.ok(ConnectorError.is(e, 'PERMISSION_DENIED'), String(e));
      hint = (e as ConnectorError).hint ?? '';
      assert.match(hint, /GRANT USAGE ON SCHEMA "refstream"/);
      assert.doesNotMatch(hint, /REPLICATION/);
      return true;
    });
    await refused.close();
    // the hint's statements, for this role, are all it takes
    for (const grant of hint
      .split(';')
      .map((g) => g.trim())
      .filter((g) => g.startsWith('GRANT'))) {
      await server.query(grant.replace('<user>', viewer));
    }
    const source = new PostgresSource({ connectionString: urlFor(viewer), table, capture: 'trigger', maxWaitMs: 200 });
    try {
      await drainSnapshot(source);
      await server.query(`INSERT INTO ${table} VALUES (2, 'b')`);
      assert.equal((await pollChanges(source, 1))[0]!.values[0], 2);
      await source.commit(source.checkpoint());
    } finally {
      await source.close();
    }
  });
});

function urlFor(user: string): string {
  const url = new URL(server.connectionString);
  url.username = user;
  url.password = '';
  return url.toString();
}
