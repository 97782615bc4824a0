/**
 * A replication connection (`replication=database`): slot commands, and the CopyBoth stream of
 * START_REPLICATION read one frame at a time. Frames are pulled only when the source wants
 * more, so a slow consumer pauses the socket (TCP backpressure) instead of buffering WAL.
 */
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { Duplex } from 'node:stream';
import { sleepUntilWoken } from '../../sdk/sleep.js';
import { formatLsn } from './lsn.js';

const PG_EPOCH_MS = 946_684_800_000;

export class ReplicationConnection {
  private stream: Duplex | null = null;
  private streamError: unknown = null;
  private streamEnded = false;
  private waiters = new Set<() => void>();
  private clientError: unknown = null;
  private closed = false;

  private constructor(readonly client: pg.Client) {
    client.on('error', (error) => {
      this.clientError ??= error;
      this.wake();
    });
  }

  /** Opens a replication connection. */
  static async connect(config: pg.ClientConfig): Promise<ReplicationConnection> {
    const client = new pg.Client(config);
    const conn = new ReplicationConnection(client);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return conn;
  }

  /** Runs a replication command or SQL statement (simple query protocol). */
  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const result = await this.client.query(sql);
    return result.rows as T[];
  }

  /**
   * Starts streaming; frames are then read with {@link readFrame}.
   * `options` are pgoutput options, already quoted.
   */
  start(slot: string, lsn: bigint, options: string): void {
    const sql = `START_REPLICATION SLOT ${slot} LOGICAL ${formatLsn(lsn)} (${options})`;
    const both = (copyStreams as unknown as { both(text: string, options: object): unknown }).both;
    const stream = both(sql, {
      alignOnCopyDataFrame: true,
      readableObjectMode: true,
      readableHighWaterMark: 512,
    } as never) as unknown as Duplex;
    this.stream = stream;
    stream.on('readable', () => this.wake());
    stream.on('error', (error) => {
      this.streamError ??= error;
      this.wake();
    });
    stream.on('end', () => {
      this.streamEnded = true;
      this.wake();
    });
    this.client.query(stream as never);
  }

  /** The error that ended the stream or connection, if any. */
  get failure(): unknown {
    return this.streamError ?? this.clientError;
  }

  /** The next frame if one is buffered, else `null`. Throws the stream's error. */
  readFrame(): Buffer | null {
    const failure = this.streamError ?? this.clientError;
    if (failure) throw failure;
    if (!this.stream) return null;
    const frame = this.stream.read() as Buffer | null;
    if (frame === null && this.streamEnded) throw new Error('Connection terminated: the server ended the replication stream');
    return frame;
  }

  /** Resolves when a frame or error may be available, after `timeoutMs`, or rejects when `signal` fires. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    // frames that arrived while the caller was busy elsewhere: no 'readable' event will announce them
    const ready = () => (this.stream?.readableLength ?? 0) > 0 || Boolean(this.failure) || this.streamEnded || this.closed;
    return sleepUntilWoken(this.waiters, ready, timeoutMs, signal);
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Sends a standby status update reporting `lsn` as written, flushed and applied.
   * `0n` reports nothing (the server ignores invalid positions).
   */
  sendStatus(lsn: bigint, replyRequested = false): void {
    const stream = this.stream;
    if (!stream || this.closed || this.streamError || this.streamEnded || stream.writableEnded) return;
    const msg = Buffer.alloc(34);
    msg[0] = 0x72; // 'r'
    msg.writeBigUInt64BE(lsn, 1);
    msg.writeBigUInt64BE(lsn, 9);
    msg.writeBigUInt64BE(lsn, 17);
    msg.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
    msg[33] = replyRequested ? 1 : 0;
    stream.write(msg);
  }

  /** Closes the connection (the server stops the walsender and releases the slot). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    const socket = (this.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
    if (this.stream) {
      // The copy never completes normally; closing the socket ends the walsender.
      this.stream.on('error', () => {});
      socket?.destroy();
    }
    await this.client.end().catch(() => {});
  }
}
