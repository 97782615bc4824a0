/**
 * `COPY … TO STDOUT` as a stream of the connection's own socket chunks.
 *
 * While a COPY runs, the query takes the socket over from `pg` and passes each chunk on as it
 * came (protocol framing included, no per-row copies): the COPY decoder reads the framing
 * itself. Only message boundaries are tracked here, to find where the COPY ends: everything
 * from the message after CopyDone on, or from an ErrorResponse, goes back to `pg`, which then
 * completes the query or raises the error.
 */
import { Readable } from 'node:stream';
import type { Connection, Submittable } from 'pg';

/** Backend message codes seen during COPY OUT. */
export const MESSAGE = { copyData: 0x64, copyDone: 0x63, error: 0x45 } as const;

/** The part of `pg`'s connection the query takes over. */
interface PgConnection {
  stream: NodeJS.ReadableStream & { listeners(event: 'data'): ((chunk: Buffer) => void)[] };
  query(text: string): void;
}

/** Where the scan stands between two chunks. */
const enum At {
  /** At a message boundary: the next byte is a message code. */
  Boundary,
  /** Inside a message's 4-byte length (`lengthBytes` of them read). */
  Length,
  /** Inside a message body (`bodyLeft` bytes to go). */
  Body,
}

/**
 * A `pg` submittable: `client.query(new CopyOut(sql))` starts the COPY; the stream yields raw
 * protocol bytes from the CopyOutResponse up to and including CopyDone, and fails with the
 * server's error if the COPY fails.
 */
export class CopyOut extends Readable implements Submittable {
  private connection: PgConnection | null = null;
  private pgOnData: ((chunk: Buffer) => void) | null = null;
  private at = At.Boundary;
  private code = 0;
  private length = 0;
  private lengthBytes = 0;
  private bodyLeft = 0;
  private wanted = false;
  private detached = false;
  private readonly onReadable = () => this.forward();

  constructor(
    private readonly text: string,
    options: { highWaterMark?: number } = {},
  ) {
    super(options);
  }

  /** Called by `pg` when the query is next on the connection. */
  submit(pgConnection: Connection): void {
    const connection = pgConnection as unknown as PgConnection;
    this.connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners('data');
    if (listeners.length !== 1) throw new Error(`COPY OUT expects one data listener on the connection, found ${listeners.length}`);
    this.pgOnData = listeners[0]!;
    stream.removeListener('data', this.pgOnData);
    stream.pause();
    stream.on('readable', this.onReadable);
    connection.query(this.text);
  }

  override _read(): void {
    this.wanted = true;
    this.forward();
  }

  /** Moves socket chunks into this stream while its reader wants more. */
  private forward(): void {
    const stream = this.connection?.stream;
    if (!stream || this.detached) return;
    while (this.wanted && !this.detached) {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return;
      this.scan(chunk);
    }
  }

  /** Passes on the COPY part of `chunk`; hands the rest back to `pg` once the COPY is over. */
  private scan(chunk: Buffer): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.at === At.Body) {
        const n = Math.min(this.bodyLeft, end - pos);
        this.bodyLeft -= n;
        pos += n;
        if (this.bodyLeft > 0) break;
        this.at = At.Boundary;
        if (this.code === MESSAGE.copyDone) return this.finish(chunk, pos);
        continue;
      }
      if (this.at === At.Boundary) {
        this.code = chunk[pos]!;
        // pg reads the error itself (and the ReadyForQuery after it)
        if (this.code === MESSAGE.error) return this.finish(chunk, pos);
        if (pos + 5 <= end) {
          // the whole header in this chunk (nearly always): skip to the body at once
          const length = ((chunk[pos + 1]! << 24) | (chunk[pos + 2]! << 16) | (chunk[pos + 3]! << 8) | chunk[pos + 4]!) >>> 0;
          pos += 5;
          if (length < 4) return this.malformed(length);
          this.bodyLeft = length - 4;
          this.at = this.bodyLeft === 0 ? At.Boundary : At.Body;
          if (this.bodyLeft === 0 && this.code === MESSAGE.copyDone) return this.finish(chunk, pos);
          continue;
        }
        pos++;
        this.at = At.Length;
        this.length = 0;
        this.lengthBytes = 0;
        continue;
      }
      // At.Length: big-endian int32 that counts itself
      this.length = this.length * 256 + chunk[pos]!;
      pos++;
      if (++this.lengthBytes === 4) {
        if (this.length < 4) return this.malformed(this.length);
        this.bodyLeft = this.length - 4;
        this.at = At.Body;
        if (this.bodyLeft === 0) {
          this.at = At.Boundary;
          if (this.code === MESSAGE.copyDone) return this.finish(chunk, pos);
        }
      }
    }
    this.wanted = this.push(chunk);
  }

  /** A message length below its own 4 bytes: the bytes are not the protocol (never loop on them). */
  private malformed(length: number): void {
    this.detached = true;
    this.destroy(new Error(`COPY OUT: malformed protocol message (code ${this.code}, length ${length})`));
  }

  /** Ends the stream with `chunk[0, split)` and gives `chunk[split, …)` back to `pg`. */
  private finish(chunk: Buffer, split: number): void {
    if (split > 0) this.push(split === chunk.length ? chunk : chunk.subarray(0, split));
    this.detach(chunk.subarray(split));
    if (this.code === MESSAGE.copyDone) this.push(null);
  }

  private detach(rest: Buffer): void {
    if (this.detached || !this.connection) return;
    this.detached = true;
    const stream = this.connection.stream;
    stream.removeListener('readable', this.onReadable);
    stream.on('data', this.pgOnData!);
    if (rest.length > 0) this.pgOnData!(rest);
    // pg may pause the socket while handling `rest`; it reads on by itself from the next tick
    process.nextTick(() => stream.resume());
  }

  /** `pg`: the query failed (an ErrorResponse, or the connection ended). */
  handleError(error: Error): void {
    this.destroy(error);
  }

  /** `pg`: the COPY's CommandComplete. */
  handleCommandComplete(): void {}

  /** `pg`: the connection is ready for the next query. */
  handleReadyForQuery(): void {}
}
