/**
 * Changes to a table with large out-of-line (TOAST) values, where half of the updates leave
 * the large column unchanged: change throughput and source-side WAL bytes per update under
 * `toast: 'lookup'` (REPLICA IDENTITY DEFAULT; the unchanged values are read by key, one query
 * per batch), under `toast: 'identity-full'` (REPLICA IDENTITY FULL; the old row is in the WAL),
 * and on the same table without large values (short text, default identity: the floor).
 *
 *   node --import tsx bench/postgres-toast.ts [rows=5000] [rounds=4]
 */
import { cpus, loadavg } from 'node:os';
import { PostgresSource, type PostgresSourceConfig } from '../src/connectors/postgres/index.js';
import { startBenchServer } from './lib/postgres-bench.js';

const rows = Number(process.argv[2] ?? 5000);
const rounds = Number(process.argv[3] ?? 4);
const pg = await startBenchServer();
/** Random hex (incompressible): 4096 characters, stored out of line. */
const LONG = `(SELECT string_agg(md5(random()::text || g::text || x.id::text), '') FROM generate_series(1, 128) g)`;
const SHORT = `md5(random()::text || x.id::text)`;

interface Case {
  name: string;
  table: string;
  value: string;
  identityFull: boolean;
  config: Partial<PostgresSourceConfig>;
}

const cases: Case[] = [
  { name: "large values, toast: 'lookup' (identity DEFAULT)", table: 'toast_lookup', value: LONG, identityFull: false, config: {} },
  {
    name: "large values, toast: 'identity-full' (identity FULL)",
    table: 'toast_full',
    value: LONG,
    identityFull: true,
    config: { toast: 'identity-full' },
  },
  { name: 'no large values (identity DEFAULT)', table: 'toast_none', value: SHORT, identityFull: false, config: {} },
];

const lsn = async () => (await pg.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l'))[0]!.l;
const walBytes = async (from: string, to: string) =>
  Number((await pg.query<{ d: string }>('SELECT pg_wal_lsn_diff($2, $1)::text AS d', [from, to]))[0]!.d);

try {
  console.log(
    `PostgreSQL ${pg.version}; ${rows} rows × ${rounds} rounds of updates (half leave the large column unchanged); load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${cpus().length} cores`,
  );
  const results: string[] = [];
  for (const c of cases) {
    await pg.query(`CREATE TABLE ${c.table} (id int8 PRIMARY KEY, price int NOT NULL, doc text)`);
    await pg.query(`INSERT INTO ${c.table} SELECT x.id, x.id, ${c.value} FROM generate_series(1, ${rows}) AS x(id)`);
    if (c.identityFull) await pg.query(`ALTER TABLE ${c.table} REPLICA IDENTITY FULL`);
    const source = new PostgresSource({ connectionString: pg.connectionString, table: c.table, slot: `bench_${c.table}`, ...c.config });
    while ((await source.pollSnapshot()) !== null);
    // the workload, committed before reading: even rows change the small column only, odd rows the large one
    const before = await lsn();
    for (let r = 0; r < rounds; r++) {
      await pg.query(`UPDATE ${c.table} SET price = price + 1 WHERE id % 2 = 0`);
      await pg.query(`UPDATE ${c.table} AS x SET doc = ${c.value} WHERE id % 2 = 1`);
    }
    const after = await lsn();
    const updates = rows * rounds;
    const wal = await walBytes(before, after);
    // WAL of the unchanged-large-column half alone
    const beforeSmall = await lsn();
    await pg.query(`UPDATE ${c.table} SET price = price + 1 WHERE id % 2 = 0`);
    const walSmall = (await walBytes(beforeSmall, await lsn())) / Math.ceil(rows / 2);
    const expected = updates + Math.floor(rows / 2);
    const started = performance.now();
    let got = 0;
    while (got < expected) {
      const b = await source.pollChanges();
      if (b) got += b.numRows;
    }
    const seconds = (performance.now() - started) / 1000;
    await source.close({ dropSlot: true });
    const line = `${c.name}: ${Math.round(got / seconds).toLocaleString('en')} changes/s (${got} in ${seconds.toFixed(2)} s); WAL ${Math.round(wal / updates).toLocaleString('en')} B/update overall, ${Math.round(walSmall).toLocaleString('en')} B per update leaving the large column unchanged`;
    console.log(line);
    results.push(line);
    await pg.query(`DROP TABLE ${c.table}`);
  }
} finally {
  await pg.stop();
}
