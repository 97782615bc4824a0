/**
 * The Postgres connector's one error classifier, fed with errors a real server raises, and
 * the table sink reporting the same kind as the source side for the same error.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { mapPgError } from '../../src/connectors/postgres/errors.js';
import { PostgresTableSink } from '../../src/connectors/postgres/index.js';
import { MemorySource, MemoryStore } from '../../src/sources/memory/index.js';
import { standardDescriptor, standardRow } from '../helpers/tables.js';
import { sourceFor, uniqueName } from './helpers.js';

/** The error a callback rejects with (fails when it resolves). */
async function errorOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  assert.fail('expected an error');
}

async function client(server: TestPostgres, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: server.connectionString, ...extra });
  c.on('error', () => {});
  await c.connect();
  return c;
}

describe('Postgres error classification against a real server', () => {
  let server: TestPostgres;
  before(async () => {
    server = await startPostgres();
    await server.query(`CREATE TABLE classify (id int8 PRIMARY KEY, v text)`);
    await server.query(`INSERT INTO classify VALUES (1, 'a')`);
    await server.query(`CREATE ROLE nobody LOGIN`);
  });
  after(() => server?.stop());

  const cases: Array<{ name: string; kind: 'transient' | 'definite'; code: string; raise: () => Promise<unknown> }> = [
    {
      name: 'admin shutdown (pg_terminate_backend)',
      kind: 'transient',
      code: 'SERVER_SHUTDOWN',
      raise: async () => {
        const c = await client(server);
        const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        const pending = errorOf(() => c.query('SELECT pg_sleep(10)'));
        await new Promise((r) => setTimeout(r, 100));
        await server.query('SELECT pg_terminate_backend($1)', [pid]);
        return pending.finally(() => c.end().catch(() => {}));
      },
    },
    {
      name: 'connection refused',
      kind: 'transient',
      code: 'CONNECTION_REFUSED',
      raise: async () => {
        const port = await new Promise<number>((resolve) => {
          const s = createServer().listen(0, '127.0.0.1', () => {
            const p = (s.address() as { port: number }).port;
            s.close(() => resolve(p));
          });
        });
        return errorOf(() => new pg.Client({ host: '127.0.0.1', port, user: 'postgres' }).connect());
      },
    },
    {
      name: 'connection reset mid-query',
      kind: 'transient',
      code: 'CONNECTION_LOST',
      raise: async () => {
        const c = await client(server);
        const pending = errorOf(() => c.query('SELECT pg_sleep(10)'));
        await new Promise((r) => setTimeout(r, 100));
        (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        return pending.finally(() => c.end().catch(() => {}));
      },
    },
    {
      name: 'serialization failure',
      kind: 'transient',
      code: 'SERIALIZATION_CONFLICT',
      raise: async () => {
        const a = await client(server);
        const b = await client(server);
        try {
          await a.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
          await a.query('SELECT * FROM classify');
          await b.query(`UPDATE classify SET v = 'b' WHERE id = 1`);
          return await errorOf(() => a.query(`UPDATE classify SET v = 'c' WHERE id = 1`));
        } finally {
          await a.end();
          await b.end();
        }
      },
    },
    {
      name: 'lock timeout',
      kind: 'transient',
      code: 'TIMEOUT',
      raise: async () => {
        const a = await client(server);
        const b = await client(server);
        try {
          await a.query('BEGIN');
          await a.query('LOCK TABLE classify IN ACCESS EXCLUSIVE MODE');
          await b.query(`SET lock_timeout = '50ms'`);
          return await errorOf(() => b.query('SELECT * FROM classify'));
        } finally {
          await a.end();
          await b.end();
        }
      },
    },
    {
      name: 'permission denied',
      kind: 'definite',
      code: 'PERMISSION_DENIED',
      raise: async () => {
        const c = new pg.Client({ host: server.host, port: server.port, database: server.database, user: 'nobody' });
        await c.connect();
        return errorOf(() => c.query('SELECT * FROM classify')).finally(() => c.end());
      },
    },
    {
      name: 'undefined table',
      kind: 'definite',
      code: 'TABLE_NOT_FOUND',
      raise: async () => {
        const c = await client(server);
        return errorOf(() => c.query('SELECT * FROM no_such_table')).finally(() => c.end());
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name} is ${c.kind} ${c.code}`, async () => {
      const raw = await c.raise();
      const mapped = mapPgError(raw, 'public.classify', 'test');
      assert.equal(mapped.code, c.code, `${mapped.code}: ${mapped.message}`);
      assert.equal(mapped.kind, c.kind);
    });
  }

  it('the table sink classifies like the source side: a lost connection is transient, a bad target definite', async () => {
    const table = uniqueName('sink_target');
    const store = new MemoryStore(standardDescriptor('public.items'));
    store.insert([standardRow(1n)]);
    const source = new MemorySource(store);
    const batch = (await source.pollSnapshot())!;
    await source.close();
    const sink = new PostgresTableSink({ connectionString: server.connectionString, table });
    try {
      await sink.write(batch);
      await sink.flush();
      await server.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'refstream-sink'`);
      const lost = await errorOf(async () => {
        await sink.write(batch);
        await sink.flush();
      });
      assert.ok(ConnectorError.is(lost));
      assert.equal(lost.kind, 'transient', lost.message);
      assert.equal(mapPgError((lost as ConnectorError).cause ?? lost, table, 'x').kind, 'transient');
    } finally {
      await sink.close().catch(() => {});
    }
    const wrong = new PostgresTableSink({ connectionString: server.connectionString.replace(/\/[^/]*$/, '/no_such_db'), table });
    const failed = await errorOf(async () => {
      await wrong.write(batch);
      await wrong.flush();
    });
    await wrong.close().catch(() => {});
    assert.ok(ConnectorError.is(failed));
    assert.equal(failed.kind, 'definite', failed.message);
  });
});

describe('no free replication slot', () => {
  let server: TestPostgres;
  before(async () => {
    server = await startPostgres({ settings: { max_replication_slots: 2 } });
    await server.query(`CREATE TABLE slotted (id int8 PRIMARY KEY, v text)`);
    await server.query(`INSERT INTO slotted VALUES (1, 'a')`);
  });
  after(() => server?.stop());

  const slotNames = async () =>
    (await server.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map((r) => r.slot_name);

  it('the server error (SQLSTATE 53400) is definite CONFIG_INVALID naming max_replication_slots', async () => {
    await server.query(`SELECT pg_create_logical_replication_slot('filler_a', 'pgoutput')`);
    await server.query(`SELECT pg_create_logical_replication_slot('filler_b', 'pgoutput')`);
    try {
      const raw = await errorOf(() => server.query(`SELECT pg_create_logical_replication_slot('one_too_many', 'pgoutput')`));
      assert.equal((raw as { code?: string }).code, '53400', String(raw));
      const mapped = mapPgError(raw, 'public.slotted', 'creating the replication slot');
      assert.equal(mapped.code, 'CONFIG_INVALID', mapped.message);
      assert.equal(mapped.kind, 'definite');
      assert.match(mapped.hint ?? '', /max_replication_slots/);
    } finally {
      await server.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots`);
    }
  });

  it('a source that cannot also get its temporary snapshot slot stops with CONFIG_INVALID and leaves no slot behind', async () => {
    await server.query(`SELECT pg_create_logical_replication_slot('filler_a', 'pgoutput')`);
    const source = sourceFor(server, 'public.slotted');
    try {
      const failure = await errorOf(() => source.pollSnapshot());
      assert.ok(ConnectorError.is(failure), String(failure));
      assert.equal(failure.code, 'CONFIG_INVALID', failure.message);
      assert.equal(failure.kind, 'definite');
      assert.match(failure.hint ?? '', /max_replication_slots/);
      assert.deepEqual(await slotNames(), ['filler_a']);
    } finally {
      await source.close().catch(() => {});
      await server.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots`);
    }
  });

  it('with room for both slots the same source starts (the check counts correctly)', async () => {
    const source = sourceFor(server, 'public.slotted');
    try {
      assert.ok(await source.pollSnapshot());
    } finally {
      await source.close({ dropSlot: true }).catch(() => {});
    }
    assert.deepEqual(await slotNames(), []);
  });
});
