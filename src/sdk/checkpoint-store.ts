/**
 * Durable checkpoint stores used by the `sync` runner.
 */
import { open, rename, mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { definite } from './errors.js';
import { parseCheckpoint, type SourceCheckpoint } from './checkpoint.js';

/**
 * Where the runner keeps the last committed checkpoint. `save` must be durable when it
 * resolves: the runner calls `source.commit(cp)` (which may release upstream data) right after.
 */
export interface CheckpointStore {
  /** The last saved checkpoint, or `null` when none was saved yet. */
  load(): Promise<SourceCheckpoint | null>;
  /** Stores `checkpoint` durably, replacing the previous one. */
  save(checkpoint: SourceCheckpoint): Promise<void>;
  /** Forgets the stored checkpoint (next start takes a new snapshot). */
  clear?(): Promise<void>;
  close?(): Promise<void>;
}

/** The file format of {@link FileCheckpointStore}. */
interface CheckpointFile {
  format: 'refstream-checkpoint';
  savedAt: string;
  checkpoint: SourceCheckpoint;
}

/**
 * Keeps the checkpoint in a JSON file. Saves write a temporary file, fsync it, rename it over
 * the old one and fsync the directory, so a crash leaves either the old or the new checkpoint.
 */
export class FileCheckpointStore implements CheckpointStore {
  constructor(readonly path: string) {}

  async load(): Promise<SourceCheckpoint | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw definite('CHECKPOINT_INVALID', `checkpoint file ${this.path} is not valid JSON: ${(error as Error).message}`, {
        hint: `repair or delete ${this.path} (deleting it starts over with a new snapshot)`,
      });
    }
    const file = parsed as Partial<CheckpointFile>;
    const inner = file && typeof file === 'object' && file.format === 'refstream-checkpoint' ? file.checkpoint : parsed;
    try {
      return parseCheckpoint(inner);
    } catch (error) {
      throw definite('CHECKPOINT_INVALID', `checkpoint file ${this.path}: ${(error as Error).message}`, {
        hint: `repair or delete ${this.path} (deleting it starts over with a new snapshot)`,
        cause: error,
      });
    }
  }

  async save(checkpoint: SourceCheckpoint): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.${basename(this.path)}.${process.pid}.tmp`);
    const body: CheckpointFile = { format: 'refstream-checkpoint', savedAt: new Date().toISOString(), checkpoint };
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(body, null, 2) + '\n');
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

/** Keeps the checkpoint in memory (tests, and runs that may start over after a restart). */
export class MemoryCheckpointStore implements CheckpointStore {
  private current: SourceCheckpoint | null = null;
  /** Every checkpoint saved, oldest first (useful in tests). */
  readonly history: SourceCheckpoint[] = [];
  async load(): Promise<SourceCheckpoint | null> {
    return this.current === null ? null : structuredClone(this.current);
  }
  async save(checkpoint: SourceCheckpoint): Promise<void> {
    this.current = structuredClone(checkpoint);
    this.history.push(this.current);
  }
  async clear(): Promise<void> {
    this.current = null;
  }
}
