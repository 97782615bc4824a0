/**
 * Replicas of `refstream sync --ha` (the built CLI, one process each) against a test
 * PostgreSQL that holds the source table and the checkpoint store, and the evidence the
 * failover tests read from the database: the lease, and every checkpoint save's epoch
 * (recorded by a trigger on the checkpoint table at save time).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestPostgres } from '../../src/testing/index.js';
import { builtCli } from './built-cli.js';

export interface Replica {
  id: string;
  child: ChildProcess;
  stderr: () => string;
}

/** Starts `refstream sync --ha --replica-id <id> <args> --log-format json` in `cwd`. */
export function startReplica(id: string, args: string[], cwd: string): Replica {
  const child = spawn(process.execPath, [builtCli, 'sync', ...args, '--ha', '--replica-id', id, '--log-format', 'json'], {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  return { id, child, stderr: () => err };
}

/** The live lease of the (one) group in the default lease table, or `null`. */
export async function currentLease(server: TestPostgres): Promise<{ holder: string; epoch: number } | null> {
  const rows = await server
    .query<{ holder: string; epoch: string }>(
      `SELECT holder, epoch::text AS epoch FROM public.refstream_leases WHERE expires_at > clock_timestamp()`,
    )
    .catch(() => []);
  return rows[0] ? { holder: rows[0].holder, epoch: Number(rows[0].epoch) } : null;
}

/**
 * Creates the checkpoint table as the store does, with a trigger that records every save's
 * epoch and LSN in `public.cp_audit (n, epoch, lsn, at)`.
 */
export async function auditCheckpoints(server: TestPostgres): Promise<void> {
  await server.query(
    `CREATE TABLE public.refstream_checkpoints (id text PRIMARY KEY, checkpoint jsonb NOT NULL, saved_at timestamptz NOT NULL DEFAULT now(), epoch bigint, lease_group text)`,
  );
  await server.query(`CREATE TABLE public.cp_audit (n bigserial PRIMARY KEY, epoch bigint, lsn text, at timestamptz NOT NULL)`);
  await server.query(`CREATE FUNCTION public.cp_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO public.cp_audit (epoch, lsn, at) VALUES (NEW.epoch, NEW.checkpoint->'checkpoint'->'position'->>'lsn', clock_timestamp());
      RETURN NULL; END $$`);
  await server.query(
    `CREATE TRIGGER cp_audit AFTER INSERT OR UPDATE ON public.refstream_checkpoints FOR EACH ROW EXECUTE FUNCTION public.cp_audit_fn()`,
  );
}

/** The epochs of the checkpoint saves, in the order they were made. */
export async function checkpointEpochs(server: TestPostgres): Promise<number[]> {
  return (await server.query<{ epoch: string }>(`SELECT epoch::text AS epoch FROM public.cp_audit ORDER BY n`)).map((r) => Number(r.epoch));
}

/** Checkpoint saves of `epoch` at or after the server time `since`. */
export async function checkpointSavesSince(server: TestPostgres, epoch: number, since: string): Promise<number> {
  const [row] = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM public.cp_audit WHERE epoch = $1 AND at >= $2`, [
    epoch,
    since,
  ]);
  return Number(row!.n);
}

export async function serverNow(server: TestPostgres): Promise<string> {
  return (await server.query<{ t: string }>(`SELECT clock_timestamp()::text AS t`))[0]!.t;
}

/**
 * Samples the slot's confirmed_flush_lsn against the stored checkpoint's LSN until stopped
 * (slot first: the checkpoint only grows); returns the violations seen.
 */
export function watchConfirmedWal(server: TestPostgres, slot: string): { stop: () => Promise<string[]> } {
  const violations: string[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const [s] = await server.query<{ c: string | null }>(
          `SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = $1`,
          [slot],
        );
        const [cp] = await server.query<{ lsn: string | null }>(
          `SELECT checkpoint->'checkpoint'->'position'->>'lsn' AS lsn FROM public.refstream_checkpoints`,
        );
        if (s?.c && cp?.lsn) {
          const [ok] = await server.query<{ ok: boolean }>(`SELECT $1::pg_lsn <= $2::pg_lsn AS ok`, [s.c, cp.lsn]);
          if (!ok!.ok) violations.push(`slot confirmed ${s.c} past the checkpoint ${cp.lsn}`);
        }
      } catch {
        // a sample lost to a busy server is not evidence
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return violations;
    },
  };
}

/** A pgbench script of small transactions on `table (id bigint, name text, amount numeric, note text)`: upserts, updates, some deletes. */
export function writeLoadScript(dir: string, table: string, keys: number): string {
  const path = join(dir, 'load.sql');
  writeFileSync(
    path,
    [
      `\\set id random(1, ${keys})`,
      '\\set r random(1, 100)',
      'BEGIN;',
      `INSERT INTO ${table} VALUES (:id, 'ins ' || :r, :r, NULL) ON CONFLICT (id) DO UPDATE SET name = 'upd ' || :r, amount = ${table}.amount + 1;`,
      `UPDATE ${table} SET note = 'n' || :r WHERE id = (:id * 7) % ${keys} + 1;`,
      `DELETE FROM ${table} WHERE id = (:id * 13) % ${keys} + 1 AND :r < 15;`,
      'COMMIT;',
    ].join('\n'),
  );
  return path;
}
