/**
 * The Exasol source following schema changes of its table (the Exasol test server): columns
 * added, dropped, renamed and widened, with rows changed around each DDL, in diff mode. A
 * consumer folding the batches into a ReferenceTable ends equal to the table in its final
 * shape; each change is reported as SCHEMA_CHANGED; a source restored from a checkpoint taken
 * before the changes follows them too; a changed key, `schemaEvolution: false` and watermark
 * mode (whose positions cannot go back to send rows again) stop with SCHEMA_INCOMPATIBLE.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ExasolConnection, ExasolSource } from '../../src/connectors/exasol/index.js';
import type { SourceWarning } from '../../src/sdk/warnings.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import { connect, sourceFor } from './helpers.js';

let server: ExasolTestServer;
let session: ExasolConnection;
const dir = mkdtempSync(join(tmpdir(), 'refstream-exasol-schema-'));

before(async () => {
  server = await startExasolTestServer();
  session = await connect(server);
  await session.execute('CREATE SCHEMA EVOLVE');
});
after(async () => {
  await session?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let tables = 0;
async function createTable(): Promise<string> {
  const table = `REGIONS_${++tables}`;
  await session.execute(
    `CREATE TABLE EVOLVE.${table} (ID DECIMAL(9,0) NOT NULL, CODE VARCHAR(10), NAME VARCHAR(20), POP DECIMAL(9,0), SEQ DECIMAL(18,0) NOT NULL, PRIMARY KEY (ID))`,
  );
  for (let i = 1; i <= 30; i++) await session.execute(`INSERT INTO EVOLVE.${table} VALUES (${i}, 'c${i}', 'n${i}', ${i}, ${i})`);
  return table;
}

function source(table: string, mode: 'diff' | 'watermark', warnings: string[], extra: object = {}): ExasolSource {
  return sourceFor(server, {
    host: server.host,
    port: server.port,
    tls: false,
    schema: 'EVOLVE',
    table,
    mode,
    ...(mode === 'diff' ? { diff: { stateDir: join(dir, table) } } : { watermark: { column: 'SEQ' } }),
    maxWaitMs: 200,
    onWarning: (w: SourceWarning) => void (w.code === 'SCHEMA_CHANGED' && warnings.push(w.message)),
    ...extra,
  } as never);
}

/** The table as rows of text by column name, ordered by ID. */
async function tableRows(table: string): Promise<string> {
  const rows: Array<Record<string, string | null>> = [];
  for await (const page of session.query(`SELECT * FROM EVOLVE.${table} ORDER BY ID`)) {
    const names = page.columns.map((c) => c.name);
    for (let r = 0; r < page.numRows; r++)
      rows.push(Object.fromEntries(names.map((n, c) => [n, page.data[c]![r] === null ? null : String(page.data[c]![r])])));
  }
  return JSON.stringify(rows);
}

function stateRows(state: ReferenceTable): string {
  const rows = state.toJSON().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
  return JSON.stringify(rows.sort((a, b) => Number(a['ID']) - Number(b['ID'])));
}

async function pollUntilEqual(s: ExasolSource, state: ReferenceTable, table: string, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const batch = await s.pollChanges();
    if (batch) state.apply(batch);
    if (stateRows(state) === (await tableRows(table))) return;
    if (Date.now() > deadline)
      assert.fail(`${what}: the folded batches ${stateRows(state)} never equalled the table ${await tableRows(table)}`);
  }
}

const STEPS = (t: string, seq: () => number) => [
  [`ALTER TABLE EVOLVE.${t} ADD COLUMN AREA DECIMAL(10,1)`, `UPDATE EVOLVE.${t} SET AREA = ID / 2, SEQ = ${seq()} WHERE ID < 5`],
  [`ALTER TABLE EVOLVE.${t} DROP COLUMN CODE`, `INSERT INTO EVOLVE.${t} (ID, NAME, POP, SEQ) VALUES (100, 'hundred', 100, ${seq()})`],
  [`ALTER TABLE EVOLVE.${t} RENAME COLUMN NAME TO LABEL`, `UPDATE EVOLVE.${t} SET LABEL = LABEL || '!', SEQ = ${seq()} WHERE ID = 7`],
  [`ALTER TABLE EVOLVE.${t} MODIFY COLUMN POP DECIMAL(18,0)`, `UPDATE EVOLVE.${t} SET POP = 123456789012345, SEQ = ${seq()} WHERE ID = 3`],
];

for (const mode of ['diff'] as const) {
  test(
    `${mode} mode follows added, dropped, renamed and widened columns; the folded batches equal the table`,
    { timeout: 120_000 },
    async () => {
      const table = await createTable();
      const warnings: string[] = [];
      const s = source(table, mode, warnings);
      const state = new ReferenceTable();
      let seq = 1000;
      try {
        for (let b = await s.pollSnapshot(); b !== null; b = await s.pollSnapshot()) state.apply(b);
        for (const [i, [ddl, dml]] of STEPS(table, () => ++seq).entries()) {
          await session.execute(ddl!);
          await session.execute(dml!);
          await pollUntilEqual(s, state, table, `step ${i + 1} (${ddl})`);
        }
      } finally {
        await s.close();
      }
      assert.deepEqual(
        state.fields.map((f) => f.name),
        ['ID', 'LABEL', 'POP', 'SEQ', 'AREA'],
      );
      assert.equal(String(state.fields.find((f) => f.name === 'POP')!.type), 'Decimal[18e0]');
      assert.equal(warnings.length, 4, warnings.join('\n'));
      assert.match(warnings[1]!, /- CODE/);
    },
  );

  test(`${mode} mode: a source restored from a checkpoint taken before the changes follows them`, { timeout: 120_000 }, async () => {
    const table = await createTable();
    const warnings: string[] = [];
    const first = source(table, mode, warnings);
    const state = new ReferenceTable();
    let checkpoint: SourceCheckpoint;
    try {
      for (let b = await first.pollSnapshot(); b !== null; b = await first.pollSnapshot()) state.apply(b);
      checkpoint = first.checkpoint();
    } finally {
      await first.close();
    }
    let seq = 2000;
    for (const [ddl, dml] of STEPS(table, () => ++seq)) {
      await session.execute(ddl!);
      await session.execute(dml!);
    }
    const second = source(table, mode, warnings);
    try {
      await second.restore(checkpoint);
      await pollUntilEqual(second, state, table, 'after the restore');
    } finally {
      await second.close();
    }
    assert.equal(warnings.length, 1, warnings.join('\n'));
  });
}

test('a renamed key column and schemaEvolution: false stop with SCHEMA_INCOMPATIBLE', { timeout: 60_000 }, async () => {
  const keyed = await createTable();
  const s = source(keyed, 'diff', []);
  try {
    while ((await s.pollSnapshot()) !== null);
    await session.execute(`ALTER TABLE EVOLVE.${keyed} RENAME COLUMN ID TO REGION_ID`);
    await assert.rejects(
      async () => {
        for (;;) await s.pollChanges();
      },
      (e: unknown) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') || ConnectorError.is(e, 'CONFIG_INVALID'),
    );
  } finally {
    await s.close();
  }
  const strict = await createTable();
  const t = source(strict, 'diff', [], { schemaEvolution: false });
  try {
    while ((await t.pollSnapshot()) !== null);
    await session.execute(`ALTER TABLE EVOLVE.${strict} DROP COLUMN CODE`);
    await assert.rejects(
      async () => {
        for (;;) await t.pollChanges();
      },
      (e: unknown) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && /CODE/.test((e as Error).message),
    );
  } finally {
    await t.close();
  }
});
