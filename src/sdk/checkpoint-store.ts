/**
 * Durable checkpoint stores used by the `sync` runner, and the one envelope format they all
 * store: the source checkpoint together with the state of every sink it was committed with.
 */
import { open, rename, mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { definite } from './errors.js';
import { parseCheckpoint, type JsonValue, type SourceCheckpoint } from './checkpoint.js';
import { leaseLost, type Fence, type LeaseStore, type MemoryLeaseStore } from './lease.js';

/**
 * What one commit stores: the source's position and, for every sink that keeps resumable
 * state, what that sink held durably at the same moment (see `Sink.checkpointState`).
 * Saved and loaded as one unit, so a sink's state never belongs to another position.
 */
export interface StoredCheckpoint {
  /** The source position of the commit. */
  readonly checkpoint: SourceCheckpoint;
  /**
   * Sink states by sink name (`jsonl:/abs/path`, `arrow:/abs/path`, …). A sink without an
   * entry had no resumable state (a pipe, stdout, a sink without `checkpointState`), or the
   * checkpoint was written by a refstream version that did not store sink states.
   */
  readonly sinks: Readonly<Record<string, JsonValue>>;
  /**
   * Set when the table stopped with a definite error after this commit (what `refstream
   * status` shows); the next commit clears it. Restoring ignores it.
   */
  readonly stopped?: StopNote;
  /** High availability: the epoch of the lease it was saved under (set by the store on load). */
  readonly epoch?: number;
}

/** Why and when a table stopped. */
export interface StopNote {
  code: string;
  message: string;
  /** ISO 8601 time of the stop. */
  at: string;
}

/**
 * Where the runner keeps the last committed checkpoint. `save` must be durable when it
 * resolves: the runner calls `source.commit(cp)` (which may release upstream data) right after.
 * A store keeps the whole {@link StoredCheckpoint} atomically; use {@link encodeCheckpointEnvelope}
 * and {@link decodeCheckpointEnvelope} to write and read it in the shared JSON format.
 */
export interface CheckpointStore {
  /** The last saved checkpoint with its sink states, or `null` when none was saved yet. */
  load(): Promise<StoredCheckpoint | null>;
  /**
   * Stores `stored` durably and atomically, replacing the previous one. With `fence` (high
   * availability; only stores with `fencing: true` take one) the save is a compare-and-set: it
   * happens only while the fence's lease is still at its epoch, else it writes nothing and
   * rejects with `LEASE_LOST`.
   */
  save(stored: StoredCheckpoint, fence?: Fence): Promise<void>;
  /** Forgets the stored checkpoint (next start takes a new snapshot). */
  clear?(): Promise<void>;
  close?(): Promise<void>;
  /** True when `save` honours a fence: the store keeps the leases it checks (high availability). */
  readonly fencing?: boolean;
  /** The store of the leases the fences name (stores with `fencing: true`). */
  leaseStore?(): LeaseStore;
}

/** Marker of the envelope's JSON form. */
export const CHECKPOINT_ENVELOPE_FORMAT = 'refstream-checkpoint';

/**
 * The JSON form every store writes: `{ format, savedAt, checkpoint, sinks }`. Older files
 * (the same object without `sinks`, or a bare source checkpoint) still load, with no sink state.
 */
export interface CheckpointEnvelope {
  format: typeof CHECKPOINT_ENVELOPE_FORMAT;
  savedAt: string;
  checkpoint: SourceCheckpoint;
  sinks: Record<string, JsonValue>;
  stopped?: StopNote;
  /** High availability: the lease epoch and replica it was saved under. */
  epoch?: number;
  replica?: string;
}

/** A checkpoint with no sink state (what a checkpoint saved before sink states existed loads as). */
export function storedCheckpoint(checkpoint: SourceCheckpoint, sinks: Record<string, JsonValue> = {}): StoredCheckpoint {
  return { checkpoint, sinks };
}

/** The envelope to store for `stored` (stamped with the current time, and with the fence it is saved under). */
export function encodeCheckpointEnvelope(stored: StoredCheckpoint, fence?: Fence): CheckpointEnvelope {
  return {
    format: CHECKPOINT_ENVELOPE_FORMAT,
    savedAt: new Date().toISOString(),
    checkpoint: stored.checkpoint,
    sinks: { ...stored.sinks },
    ...(stored.stopped ? { stopped: stored.stopped } : {}),
    ...(fence ? { epoch: fence.epoch, replica: fence.holder } : {}),
  };
}

/**
 * Reads an envelope (object or JSON text) back. `where` names the store location for errors
 * (e.g. `checkpoint file /x/cp.json`). Throws definite `CHECKPOINT_INVALID` with a hint.
 */
export function decodeCheckpointEnvelope(input: unknown, where: string, hint: string): StoredCheckpoint {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw definite('CHECKPOINT_INVALID', `${where} is not valid JSON: ${(error as Error).message}`, { hint });
    }
  }
  const envelope =
    value !== null && typeof value === 'object' && (value as { format?: unknown }).format === CHECKPOINT_ENVELOPE_FORMAT
      ? (value as Partial<CheckpointEnvelope>)
      : null;
  let checkpoint: SourceCheckpoint;
  try {
    checkpoint = parseCheckpoint(envelope ? envelope.checkpoint : value);
  } catch (error) {
    throw definite('CHECKPOINT_INVALID', `${where}: ${(error as Error).message}`, { hint, cause: error });
  }
  const sinks = envelope?.sinks ?? {};
  if (sinks === null || typeof sinks !== 'object' || Array.isArray(sinks)) {
    throw definite('CHECKPOINT_INVALID', `${where}: "sinks" must be an object of sink states by sink name`, { hint });
  }
  const stopped = envelope?.stopped;
  const note =
    stopped &&
    typeof stopped === 'object' &&
    typeof stopped.code === 'string' &&
    typeof stopped.message === 'string' &&
    typeof stopped.at === 'string'
      ? { stopped: { code: stopped.code, message: stopped.message, at: stopped.at } }
      : {};
  const epoch = typeof envelope?.epoch === 'number' ? { epoch: envelope.epoch } : {};
  return { checkpoint, sinks: sinks as Record<string, JsonValue>, ...note, ...epoch };
}

/**
 * Keeps the checkpoint in a JSON file. Saves write a temporary file, fsync it, rename it over
 * the old one and fsync the directory, so a crash leaves either the old or the new checkpoint.
 */
export class FileCheckpointStore implements CheckpointStore {
  constructor(readonly path: string) {}

  async load(): Promise<StoredCheckpoint | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    return decodeCheckpointEnvelope(
      text,
      `checkpoint file ${this.path}`,
      `repair or delete ${this.path} (deleting it starts over with a new snapshot)`,
    );
  }

  async save(stored: StoredCheckpoint): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.${basename(this.path)}.${process.pid}.tmp`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(encodeCheckpointEnvelope(stored), null, 2) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.path);
    await fsyncDirectory(dir);
  }

  async clear(): Promise<void> {
    await unlink(this.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await fsyncDirectory(dirname(this.path));
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms cannot fsync directories; the rename is still atomic there.
  }
}

/**
 * Keeps the checkpoint in memory (tests, and runs that may start over after a restart). With
 * `leases`, saves can be fenced (replicas inside one process, and tests of high availability).
 */
export class MemoryCheckpointStore implements CheckpointStore {
  private current: StoredCheckpoint | null = null;
  /** Every checkpoint saved, oldest first (useful in tests); fenced saves carry their `epoch`. */
  readonly history: StoredCheckpoint[] = [];
  readonly fencing: boolean;

  constructor(private readonly options: { leases?: MemoryLeaseStore } = {}) {
    this.fencing = options.leases !== undefined;
  }

  async load(): Promise<StoredCheckpoint | null> {
    return this.current === null ? null : structuredClone(this.current);
  }
  async save(stored: StoredCheckpoint, fence?: Fence): Promise<void> {
    if (fence) {
      const leases = this.options.leases;
      if (!leases) throw definite('CONFIG_INVALID', 'this MemoryCheckpointStore keeps no leases: create it with { leases }');
      // checked and written in one synchronous step: nothing can take the lease in between
      if (!leases.holds(fence)) throw leaseLost(fence, 'the checkpoint was not saved');
      if ((this.current?.epoch ?? 0) > fence.epoch) throw leaseLost(fence, `a checkpoint of epoch ${this.current!.epoch} exists`);
    }
    this.current = structuredClone(fence ? { ...stored, epoch: fence.epoch } : stored);
    this.history.push(this.current);
  }
  leaseStore(): LeaseStore {
    if (!this.options.leases) throw definite('CONFIG_INVALID', 'this MemoryCheckpointStore keeps no leases: create it with { leases }');
    return this.options.leases;
  }
  async clear(): Promise<void> {
    this.current = null;
  }
}
