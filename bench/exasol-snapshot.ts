/**
 * Exasol snapshot benchmark on the Exasol test server (3 nodes, TLS): rows/s and peak RSS of
 *   1. ExasolSource with parallel EXPORT (one TLS tunnel per node, CSV → Arrow),
 *   2. ExasolSource with paged `fetch` (our WebSocket client, JSON → Arrow),
 *   3. the official `@exasol/exasol-driver-ts` `query()` (whole result as row objects),
 * on the same table in the same run. Each reader runs in its own child process so that its
 * peak RSS is its own (the test server, which materialises results itself, runs in the parent).
 *
 *   node --import tsx bench/exasol-snapshot.ts [rows=200000] [repeat=3]
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

interface Settings {
  host: string;
  port: number;
  user: string;
  password: string;
  fingerprint: string;
}
interface ChildResult {
  rows: number;
  ms: number[];
  /** CPU time (user + system) of the reading process per run: the client's own cost. */
  cpuMs: number[];
  maxRssMB: number;
}

const SELF = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') await child(process.argv[3]!, JSON.parse(process.argv[4]!) as Settings, Number(process.argv[5]));
else await main(Number(process.argv[2] ?? 200_000), Number(process.argv[3] ?? 3));

async function main(rows: number, repeat: number): Promise<void> {
  const { startExasolTestServer } = await import('../src/testing/index.js');
  const { ExasolConnection } = await import('../src/connectors/exasol/index.js');
  const server = await startExasolTestServer({ nodes: 3, tls: true });
  server.transcript.enabled = false;
  try {
    const settings: Settings = {
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      fingerprint: server.fingerprint!,
    };
    const admin = await ExasolConnection.connect({ ...settings, tls: true });
    await admin.execute('CREATE SCHEMA BENCH');
    await admin.execute(
      `CREATE TABLE BENCH.T (ID DECIMAL(18,0) PRIMARY KEY, NAME VARCHAR(100), AMOUNT DECIMAL(12,2), UPDATED_AT TIMESTAMP(6), ACTIVE BOOLEAN, NOTE VARCHAR(200))`,
    );
    await admin.execute(
      `INSERT INTO BENCH.T SELECT g, 'customer ' || g, g * 1.25, TIMESTAMP '2024-01-01 00:00:00.123456' + g * INTERVAL '1' SECOND, g % 2 = 0, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note for row ' || g END FROM generate_series(1, ${rows}) g`,
    );
    await admin.close();
    console.log(
      `Exasol test server, 3 nodes, TLS; table BENCH.T: ${rows} rows (DECIMAL(18,0), VARCHAR, DECIMAL(12,2), TIMESTAMP(6), BOOLEAN, VARCHAR null)`,
    );
    const results: Record<string, ChildResult> = {};
    for (const method of ['export', 'fetch', 'official']) {
      results[method] = await runChild(method, settings, repeat);
      const r = results[method]!;
      const best = Math.min(...r.ms);
      const cpu = Math.min(...r.cpuMs);
      console.log(
        `${method.padEnd(9)} ${r.rows} rows  best ${best.toFixed(0)} ms = ${((r.rows / best) * 1000).toFixed(0)} rows/s (runs ${r.ms.map((m) => m.toFixed(0)).join('/')} ms)  ` +
          `client CPU ${cpu.toFixed(0)} ms = ${((r.rows / cpu) * 1000).toFixed(0)} rows per CPU-s  peak RSS ${r.maxRssMB.toFixed(0)} MiB`,
      );
    }
    const rate = (m: string) => results[m]!.rows / Math.min(...results[m]!.ms);
    const cpuRate = (m: string) => results[m]!.rows / Math.min(...results[m]!.cpuMs);
    const ratio = (f: (m: string) => number, a: string, b: string) => `${(f(a) / f(b)).toFixed(2)}x`;
    console.log(
      `wall-clock rows/s ratios: export/official ${ratio(rate, 'export', 'official')}, fetch/official ${ratio(rate, 'fetch', 'official')}, export/fetch ${ratio(rate, 'export', 'fetch')}`,
    );
    console.log(
      `client CPU ratios (rows per CPU-second): export/official ${ratio(cpuRate, 'export', 'official')}, fetch/official ${ratio(cpuRate, 'fetch', 'official')}`,
    );
    console.log(
      `peak RSS: export ${results.export!.maxRssMB.toFixed(0)} MiB, fetch ${results.fetch!.maxRssMB.toFixed(0)} MiB, official ${results.official!.maxRssMB.toFixed(0)} MiB`,
    );
  } finally {
    await server.stop();
  }
}

function runChild(method: string, settings: Settings, repeat: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', SELF, '--child', method, JSON.stringify(settings), String(repeat)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildResult)
        : reject(new Error(`${method} child exited with ${code}`)),
    );
  });
}

async function child(method: string, settings: Settings, repeat: number): Promise<void> {
  const ms: number[] = [];
  const cpuMs: number[] = [];
  let rows = 0;
  const stateDir = mkdtempSync(join(tmpdir(), 'refstream-bench-'));
  try {
    for (let i = 0; i < repeat; i++) {
      const started = performance.now();
      const cpu = process.cpuUsage();
      rows = method === 'official' ? await readOfficial(settings) : await readOurs(settings, method as 'export' | 'fetch', stateDir);
      ms.push(performance.now() - started);
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ rows, ms, cpuMs, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

async function readOurs(s: Settings, method: 'export' | 'fetch', stateDir: string): Promise<number> {
  const { ExasolSource } = await import('../src/connectors/exasol/index.js');
  const source = new ExasolSource({
    ...s,
    tls: true,
    schema: 'BENCH',
    table: 'T',
    mode: 'watermark',
    watermark: { column: 'ID' },
    snapshot: { method },
    batchRows: 65_536,
  });
  void stateDir;
  let rows = 0;
  try {
    for (let b = await source.pollSnapshot(); b !== null; b = await source.pollSnapshot()) rows += b.numRows;
  } finally {
    await source.close();
  }
  return rows;
}

interface OfficialDriver {
  connect(): Promise<void>;
  close(): Promise<void>;
  query(sql: string): Promise<{ getRows(): Record<string, unknown>[] }>;
}

async function readOfficial(s: Settings): Promise<number> {
  // the ESM entry of the driver crashes at connect(); its CommonJS build works
  const require = createRequire(import.meta.url);
  const { ExasolDriver } = require('@exasol/exasol-driver-ts') as {
    ExasolDriver: new (factory: (url: string) => unknown, config: Record<string, unknown>) => OfficialDriver;
  };
  const driver = new ExasolDriver((url) => new WebSocket(url, { rejectUnauthorized: false }), {
    host: s.host,
    port: s.port,
    user: s.user,
    password: s.password,
    schema: '',
  });
  await driver.connect();
  try {
    const result = await driver.query('SELECT ID, NAME, AMOUNT, UPDATED_AT, ACTIVE, NOTE FROM BENCH.T');
    return result.getRows().length;
  } finally {
    await driver.close();
  }
}
