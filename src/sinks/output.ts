/**
 * Byte outputs shared by the file sinks: a file (`path`), stdout (`-`) or any Writable, with
 * backpressure, durable flushes, and exact resume of regular files.
 *
 * A regular file has a durable length: what was written, drained and fsynced at the last
 * flush. `resume(length)` opens the file without truncating it, cuts it back to that length
 * and continues writing there. Pipes, character devices (`/dev/null`) and stdout have no
 * durable length: they are never truncated or fsynced, and cannot be resumed exactly.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import type { JsonValue } from '../sdk/checkpoint.js';
import { definite } from '../sdk/errors.js';

/** How much a file output buffers before a write waits for the disk. */
const WRITE_BUFFER_BYTES = 16 << 20;

/** A destination of bytes: a file path, `-` for stdout, or any Writable. */
export type OutputTarget = string | Writable;

/** The stream and file behind an opened path. */
interface Opened {
  stream: WriteStream;
  handle: FileHandle;
  /** A regular file (truncatable, fsync-able); false for FIFOs and devices. */
  regular: boolean;
  /** File offset of this stream's first byte. */
  base: number;
}

export class Output {
  private readonly path: string | null;
  private readonly given: Writable | null;
  private opened: Opened | null = null;
  private opening: Promise<Opened> | null = null;
  /** The length the file had when this process first took it over (resume point of a state-less restore). */
  private firstBase: number | null = null;
  private durable: number | null = null;
  private failure: Error | null = null;

  constructor(
    target: OutputTarget,
    /** A fresh start appends to an existing file instead of replacing it. */
    private readonly append: boolean,
  ) {
    if (typeof target !== 'string') {
      this.path = null;
      this.given = target;
    } else if (target === '-') {
      this.path = null;
      this.given = process.stdout;
    } else {
      this.path = target;
      this.given = null;
    }
  }

  /** A label without secrets for sink names. */
  get label(): string {
    return this.path ?? (this.given === process.stdout ? 'stdout' : 'stream');
  }

  /**
   * The durable length after the last flush, or `null` when the output has none (not a
   * regular file, or nothing was flushed yet).
   */
  get durableLength(): number | null {
    return this.durable;
  }

  /** The file path, or `null` for stdout and given streams. */
  get filePath(): string | null {
    return this.path;
  }

  /** Whether `resume` can cut this output back (a regular file). Known once opened. */
  get resumable(): boolean {
    return this.opened?.regular ?? false;
  }

  /**
   * Continues the output at a committed length: opens the file without truncating it, cuts
   * off anything after `length` (a torn tail, uncommitted writes) and appends from there.
   * `length === null` means the checkpoint holds no state for this output: allowed when the
   * file is missing or empty, with `append`, or when this process wrote the file since its
   * start (then it is cut back to where this process began). Outputs that are not regular
   * files continue as they are.
   */
  async resume(length: number | null): Promise<void> {
    if (this.path === null) return;
    if (this.opened && !this.opened.regular) return;
    const target = length ?? this.firstBase;
    await this.closeStream();
    const path = this.path;
    const existing = await stat(path).catch(() => null);
    if (existing !== null && !existing.isFile()) {
      await this.openFresh('w');
      return;
    }
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (target !== null && target > 0) {
        throw definite('SINK_STATE_MISMATCH', `${path} is missing, but the checkpoint says ${target} bytes of it were committed`, {
          hint: `restore the file, or start over: delete the checkpoint (the next run takes a new snapshot and replaces ${path})`,
        });
      }
      await this.openFresh('w');
      this.durable = 0;
      return;
    }
    try {
      const info = await handle.stat();
      let resumeAt: number;
      if (target === null) {
        if (info.size > 0 && !this.append) {
          throw definite(
            'SINK_STATE_MISSING',
            `the checkpoint holds no state for ${path} (saved by an older refstream, or before this sink was added), so the ${info.size} bytes in it cannot be resumed exactly`,
            {
              hint: `start over (delete the checkpoint; the next run takes a new snapshot and replaces ${path}), or move ${path} away to continue into a new file`,
            },
          );
        }
        resumeAt = info.size;
      } else {
        if (info.size < target) {
          throw definite(
            'SINK_STATE_MISMATCH',
            `${path} has ${info.size} bytes, but the checkpoint says ${target} bytes were committed to it (was it truncated, replaced or rotated?)`,
            {
              hint: `restore the file, or start over: delete the checkpoint (the next run takes a new snapshot and replaces ${path})`,
            },
          );
        }
        if (info.size > target) await handle.truncate(target);
        resumeAt = target;
      }
      this.attach(handle, true, resumeAt);
      this.durable = resumeAt;
    } catch (error) {
      if (!this.opened || this.opened.handle !== handle) await handle.close().catch(() => {});
      throw error;
    }
  }

  /** Writes and waits for the stream to drain when its buffer is full. */
  async write(chunk: string | Uint8Array): Promise<void> {
    const stream = this.opened?.stream ?? this.given ?? (await this.open()).stream;
    if (this.failure) throw this.failure;
    if (!stream.write(chunk)) await drained(stream);
    if (this.failure) throw this.failure;
  }

  /** Waits until everything written left the process; fsyncs regular files (the stream's own fd). */
  async flush(): Promise<void> {
    if (this.given !== null) {
      if (this.given.writableNeedDrain) await drained(this.given);
      return;
    }
    const { stream, handle, regular, base } = this.opened ?? (await this.open());
    if (this.failure) throw this.failure;
    // An empty write's callback runs once everything queued before it reached the file.
    await new Promise<void>((resolve, reject) => stream.write('', (e) => (e ? reject(e) : resolve())));
    if (!regular) return;
    await handle.sync();
    this.durable = base + stream.bytesWritten;
  }

  async close(): Promise<void> {
    if (this.given !== null) {
      if (this.given.writableNeedDrain) await drained(this.given);
      return;
    }
    if (this.opening) await this.opening.catch(() => {});
    await this.closeStream();
  }

  /** Opens the path for a fresh start: replaced, or appended to with `append`. */
  private open(): Promise<Opened> {
    this.opening ??= this.openFresh(this.append ? 'a' : 'w');
    return this.opening;
  }

  private async openFresh(flags: 'w' | 'a'): Promise<Opened> {
    const path = this.path!;
    // A FIFO or device is opened for writing as it is (O_TRUNC does nothing there).
    const existing = await stat(path).catch(() => null);
    // an output per table (out/{table}.jsonl) goes into a folder that may not exist yet
    if (existing === null) await mkdir(dirname(path), { recursive: true });
    const handle = await open(path, existing !== null && !existing.isFile() ? 'w' : flags, 0o644);
    try {
      const info = await handle.stat();
      return this.attach(handle, info.isFile(), info.isFile() ? info.size : 0);
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
  }

  private attach(handle: FileHandle, regular: boolean, base: number): Opened {
    // Positional writes on a regular file (so a resumed stream writes at its committed length);
    // pipes and devices cannot seek.
    // A buffer of a few batches: with the default 16 KiB every batch waited for the disk in
    // small steps, and the source stood still meanwhile.
    const stream = createWriteStream(this.path!, {
      fd: handle,
      ...(regular ? { start: base } : {}),
      autoClose: true,
      highWaterMark: WRITE_BUFFER_BYTES,
    });
    stream.on('error', (error) => (this.failure ??= error));
    this.opened = { stream, handle, regular, base };
    this.opening = Promise.resolve(this.opened);
    if (this.firstBase === null && regular) this.firstBase = base;
    return this.opened;
  }

  private async closeStream(): Promise<void> {
    const opened = this.opened;
    if (opened === null) return;
    this.opened = null;
    this.opening = null;
    await new Promise<void>((resolve, reject) => {
      if (opened.stream.destroyed) return resolve();
      opened.stream.once('error', reject);
      opened.stream.end(() => resolve());
    });
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
  }
}

function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      stream.off('drain', onDrain);
      reject(error);
    };
    const onDrain = () => {
      stream.off('error', onError);
      resolve();
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
  });
}

/** The `bytes` of a file sink's checkpoint state, validated. */
export function committedBytes(sink: string, state: JsonValue): number {
  const bytes = state !== null && typeof state === 'object' && !Array.isArray(state) ? state['bytes'] : undefined;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw definite(
      'CHECKPOINT_INVALID',
      `the checkpoint state of sink ${sink} is malformed (expected { "bytes": <length> }): ${JSON.stringify(state)}`,
      {
        hint: 'repair the checkpoint, or delete it to start over with a new snapshot',
      },
    );
  }
  return bytes;
}
