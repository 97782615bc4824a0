import { startPostgres } from './src/testing/postgres.js';
import { spawn } from 'node:child_process';
import pg from 'pg';
const server = await startPostgres({ walLevel: 'replica' });
try {
  await server.query(`CREATE TABLE accounts (id int8 PRIMARY KEY, balance int8 NOT NULL, note text, doc text)`);
  await server.query(`INSERT INTO accounts SELECT g, 0, 'a', NULL FROM generate_series(1, 20000) g`);
  const c = new pg.Client({ connectionString: server.connectionString }); await c.connect();
  await c.query('BEGIN'); await c.query(`UPDATE accounts SET note='x' WHERE id = 5`);
  const child = spawn(process.execPath, ['dist/cli.js', 'sync', '--source', server.connectionString, '--table', 'accounts', '--capture', 'trigger', '--install-triggers', '--sink', 'jsonl:/tmp/tc/o.jsonl', '--checkpoint', '/tmp/tc/cp.json', '--batch-rows', '500', '--commit-ms', '200', '--log-format', 'json', '--duration', '8'], { stdio: ['ignore', 'inherit', 'inherit'] });
  await new Promise(r => setTimeout(r, 4000));
  console.log(await server.query(`SELECT pid, state, wait_event_type, wait_event, left(query, 80) q FROM pg_stat_activity WHERE datname IS NOT NULL`));
  await c.query('COMMIT'); await c.end();
  await new Promise(r => child.on('exit', r));
} finally { await server.stop(); }
