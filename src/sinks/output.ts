/**
 * Byte outputs shared by the file sinks: a file (`path`) or stdout (`-`), with backpressure
 * and durable flushes.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

/** A destination of bytes: a file path, `-` for stdout, or any Writable. */
export type OutputTarget = string | Writable;

export class Output {
  readonly stream: Writable;
  private readonly path: string | null;
  private readonly ownsStream: boolean;

  constructor(target: OutputTarget, append: boolean) {
    if (typeof target !== 'string') {
      this.stream = target;
      this.path = null;
      this.ownsStream = false;
    } else if (target === '-') {
      this.stream = process.stdout;
      this.path = null;
      this.ownsStream = false;
    } else {
      this.stream = createWriteStream(target, { flags: append ? 'a' : 'w' });
      this.path = target;
      this.ownsStream = true;
    }
  }

  /** A label without secrets for sink names. */
  get label(): string {
    return this.path ?? (this.stream === process.stdout ? 'stdout' : 'stream');
  }

  /** Writes and waits for the stream to drain when its buffer is full. */
  async write(chunk: string | Uint8Array): Promise<void> {
    if (!this.stream.write(chunk)) await this.drained();
  }

  /** Waits until everything written left the process; fsyncs files. */
  async flush(): Promise<void> {
    if (this.stream.writableNeedDrain) await this.drained();
    if (this.path !== null) {
      const stream = this.stream as WriteStream;
      if (!stream.pending) {
        // An empty write's callback runs once everything queued before it reached the file.
        await new Promise<void>((resolve, reject) => stream.write('', (e) => (e ? reject(e) : resolve())));
        const handle: FileHandle = await open(this.path, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
    }
  }

  async close(): Promise<void> {
    if (!this.ownsStream) {
      if (this.stream.writableNeedDrain) await this.drained();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        this.stream.off('drain', onDrain);
        reject(error);
      };
      const onDrain = () => {
        this.stream.off('error', onError);
        resolve();
      };
      this.stream.once('drain', onDrain);
      this.stream.once('error', onError);
    });
  }
}
