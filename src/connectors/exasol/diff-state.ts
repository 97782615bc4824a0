/**
 * Durable state of the diff change mode.
 *
 * Each diff epoch (a poll that found changes) is written as one immutable, content-addressed
 * file `<table>.<run>.<epoch>.<sha256>.diffstate` holding the table state *after* the epoch (primary key → row hash)
 * and the epoch's change rows. A checkpoint references the file by its hash plus how many of
 * its changes were delivered, so restoring it — in another process, after a crash — delivers
 * exactly the remaining changes and then diffs against the same state. Files are written with
 * write-temp + fsync + rename, verified against their hash when read, and removed only once a
 * later checkpoint was committed. Table, run (one per snapshot) and epoch in the name let a
 * restarted process release files an earlier process wrote; one `stateDir` serves one pipeline.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { definite } from '../../sdk/errors.js';

/** A change row of an epoch: type and wire values in delivered column order (`null` key-only for deletes). */
export interface PendingChange {
  type: 'insert' | 'update' | 'delete';
  values: unknown[];
}

/** What one state file holds. */
export interface DiffEpoch {
  table: string;
  /** Id of the snapshot the chain of epochs started from. */
  run: string;
  epoch: number;
  /** Primary key text → row hash, after the epoch's changes. */
  state: Map<string, string>;
  /** The epoch's changes in delivery order. */
  changes: PendingChange[];
}

const SUFFIX = '.diffstate';
const FORMAT = 1;

/** Reads and writes state files in one directory. */
export class DiffStateStore {
  constructor(readonly directory: string) {}

  /** Writes an epoch durably; resolves to its content hash. */
  async write(epoch: DiffEpoch): Promise<string> {
    const entries = [...epoch.state.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const body = JSON.stringify({
      format: FORMAT,
      table: epoch.table,
      run: epoch.run,
      epoch: epoch.epoch,
      state: entries,
      changes: epoch.changes.map((c) => [c.type, c.values]),
    });
    const hash = createHash('sha256').update(body).digest('hex');
    await mkdir(this.directory, { recursive: true });
    const target = join(this.directory, fileName(epoch.table, epoch.run, epoch.epoch, hash));
    const temp = join(this.directory, `.${hash}.${randomUUID()}.tmp`);
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
    await syncDirectory(this.directory);
    return hash;
  }

  /** Reads the epoch `hash`; CHECKPOINT_EXPIRED when the file is gone, CHECKPOINT_INVALID when it is corrupt or of another table. */
  async read(hash: string, table: string, run: string, epoch: number): Promise<DiffEpoch> {
    if (!/^[0-9a-f]{64}$/.test(hash))
      throw definite('CHECKPOINT_INVALID', `diff state reference ${JSON.stringify(hash)} is not a SHA-256`, { table });
    let body: string;
    try {
      body = await readFile(join(this.directory, fileName(table, run, epoch, hash)), 'utf8');
    } catch (error) {
      throw definite('CHECKPOINT_EXPIRED', `the diff state ${hash.slice(0, 12)}… of ${table} is not in ${this.directory}`, {
        table,
        cause: error,
        hint: 'keep diff.stateDir between runs (and on shared storage when the process moves); delete the checkpoint to start over',
      });
    }
    if (createHash('sha256').update(body).digest('hex') !== hash) {
      throw definite('CHECKPOINT_INVALID', `the diff state file ${hash.slice(0, 12)}… of ${table} is corrupt (hash mismatch)`, { table });
    }
    const parsed = JSON.parse(body) as {
      format: number;
      table: string;
      run: string;
      epoch: number;
      state: [string, string][];
      changes: [PendingChange['type'], unknown[]][];
    };
    if (parsed.format !== FORMAT || parsed.table !== table) {
      throw definite('CHECKPOINT_INVALID', `the diff state ${hash.slice(0, 12)}… belongs to ${parsed.table}, not ${table}`, { table });
    }
    return {
      table: parsed.table,
      run: parsed.run,
      epoch: parsed.epoch,
      state: new Map(parsed.state),
      changes: parsed.changes.map(([type, values]) => ({ type, values })),
    };
  }

  /**
   * Removes the state files of `table` that a committed checkpoint at (`run`, `epoch`) no longer
   * needs: earlier epochs of the run, and every file of other (earlier) runs.
   */
  async releaseBefore(table: string, run: string, epoch: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch {
      return 0;
    }
    const prefix = `${encodeURIComponent(table)}.`;
    let removed = 0;
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith(SUFFIX)) continue;
      const m = /^([0-9a-f]{8})\.([0-9a-f]{16})\.[0-9a-f]{64}$/.exec(name.slice(prefix.length, -SUFFIX.length));
      if (m && (m[1] !== run || Number.parseInt(m[2]!, 16) < epoch)) {
        await rm(join(this.directory, name), { force: true });
        removed++;
      }
    }
    return removed;
  }
}

/** `<table>.<run: 8 hex>.<epoch: 16 hex>.<sha256>.diffstate`. */
function fileName(table: string, run: string, epoch: number, hash: string): string {
  return `${encodeURIComponent(table)}.${run}.${epoch.toString(16).padStart(16, '0')}.${hash}${SUFFIX}`;
}

/** A new run id (one per snapshot). */
export function newRunId(): string {
  return randomBytes(4).toString('hex');
}

async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // not supported on every platform; the rename is still atomic
  }
}
