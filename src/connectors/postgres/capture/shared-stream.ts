/**
 * One replication connection on a capture's slot, read once for all its tables. Each table
 * streaming changes holds a channel; frames are routed to the channel of the relation they
 * name, transaction boundaries and keepalives go to every channel. A table reads its channel
 * exactly as it would read its own slot (change-reader.ts), so each table keeps its own
 * position and batches.
 *
 * - Memory: frames wait in channels up to `bufferBytes` in all; beyond, the socket is not read
 *   (TCP backpressure) until the tables behind catch up.
 * - Joining: a table whose position lies before what was already routed (a table that just
 *   finished its snapshot, a restored one) restarts the stream at the lowest position any
 *   table holds; the others receive {@link REWOUND} and skip by position what they had.
 * - Confirming: status updates report the lowest position every table committed
 *   ({@link Holds.confirmable}), never more.
 */
import { definite } from '../../../sdk/errors.js';
import { sleepUntilWoken } from '../../../sdk/sleep.js';
import type { LeaderTerm } from '../../../sdk/leadership.js';
import type { Catalog, TableInfo } from '../catalog.js';
import type { ResolvedConfig } from '../config.js';
import { REWOUND, slotPastCheckpoint, slotReleased, startOnSlot, type ChangeChannel, type ChangePosition } from '../change-channel.js';
import { parseKeepalive, XLOG_DATA_HEADER } from '../pgoutput.js';
import type { ReplicationConnection } from '../replication-stream.js';
import type { Holds } from './holds.js';

/** What the shared stream needs from its capture. */
export interface SharedStreamOptions {
  /** The capture's settings (slot, publication, timeouts, status interval). */
  config: ResolvedConfig;
  /** Names the capture in errors. */
  display: string;
  connect: () => Promise<ReplicationConnection>;
  catalog: () => Promise<Catalog>;
  holds: Holds;
  /** Frames waiting in channels, in bytes, beyond which the socket is not read. */
  bufferBytes: number;
  /** High availability: the term the capture's runners lead in (the slot may be taken over). */
  term?: () => LeaderTerm | null;
}

const BEGIN = 0x42;
const COMMIT = 0x43;
const RELATION = 0x52;
const INSERT = 0x49;
const UPDATE = 0x55;
const DELETE = 0x44;
const TRUNCATE = 0x54;

/** The stream shared by a capture's tables. */
export class SharedStream {
  private conn: ReplicationConnection | null = null;
  private restarting: Promise<void> | null = null;
  private binary = true;
  private readonly channels = new Set<CaptureChannel>();
  private readonly byRelation = new Map<number, CaptureChannel>();
  /** Every transaction committing before this LSN was routed in the current stream. */
  private routed = 0n;
  /** The final LSN of the transaction being routed, `-1n` between transactions. */
  private openTxn = -1n;
  private queuedBytes = 0;
  private statusTimer: NodeJS.Timeout | null = null;
  private lastStatus = 0n;
  private closed = false;
  /**
   * Tables joining right now: nothing is routed meanwhile, so that tables joining together at
   * one position (the first tables, or every table after a transient error) join one stream
   * instead of restarting it one after the other.
   */
  private joining = 0;
  private resumeWaiters: Array<() => void> = [];
  /** Restarts so far (tests and metrics). */
  restarts = 0;

  constructor(private readonly o: SharedStreamOptions) {}

  /**
   * A channel for `table` from `start` on. Restarts the stream when it is not running, when
   * it already routed past `start`, or when `textValues` needs values in text form.
   */
  async attach(table: TableInfo, start: ChangePosition, textValues: boolean): Promise<ChangeChannel> {
    if (this.closed) throw definite('CLOSED', `${this.o.display} is closed`, { table: table.display });
    this.byRelation.get(table.oid)?.fail(definite('CLOSED', `another source of ${table.display} took its place in ${this.o.display}`));
    const channel = new CaptureChannel(this, table, start, textValues);
    this.channels.add(channel);
    this.byRelation.set(table.oid, channel);
    this.joining++;
    try {
      for (;;) {
        if (this.restarting) {
          await this.restarting.catch(() => {});
          continue;
        }
        if (channel.failure) throw channel.failure;
        if (this.joinsWithoutRestart(channel)) break;
        const restart = this.restart();
        this.restarting = restart;
        try {
          await restart;
        } finally {
          this.restarting = null;
        }
      }
    } catch (error) {
      this.detach(channel);
      throw error;
    } finally {
      this.joining--;
      if (!this.paused) this.resume();
    }
    this.wakeAll();
    return channel;
  }

  /** Whether `channel` can take the running stream as it is (else the stream restarts). */
  private joinsWithoutRestart(channel: CaptureChannel): boolean {
    if (this.conn === null || this.conn.failure) return false;
    if (channel.textValues && this.binary) return false;
    if (channel.start.lsn < this.routed) return false;
    // mid-transaction: fine when that transaction commits before the channel's position
    // (the channel would skip it anyway); it joins at the next boundary
    if (this.openTxn >= 0n && channel.start.lsn <= this.openTxn) return false;
    if (this.openTxn < 0n) channel.active = true;
    return true;
  }

  /**
   * Starts (again) at the lowest position any table holds; channels already reading receive
   * REWOUND. When the stream cannot start, every channel fails with the error.
   */
  private async restart(): Promise<void> {
    try {
      await this.startAtLowest();
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }

  private async startAtLowest(): Promise<void> {
    await this.stopConnection();
    const catalog = await this.o.catalog();
    const slot = await catalog.slotState(this.o.config.slotName);
    if (!slot) {
      throw definite('SLOT_MISSING', `replication slot ${this.o.config.slotName} of ${this.o.display} does not exist`, {
        hint: 'it was dropped; delete the checkpoints of the capture to take new snapshots',
      });
    }
    // tables whose position the slot has passed lost changes: they stop, the others go on
    if (slot.confirmedFlush !== null) {
      for (const channel of [...this.channels]) {
        if (channel.start.lsn < slot.confirmedFlush && !channel.delivered) {
          channel.fail(slotPastCheckpoint(this.o.config.slotName, slot.confirmedFlush, channel.start.lsn, channel.table.display));
        }
      }
    }
    const live = [...this.channels].filter((c) => c.failure === null);
    let start = this.o.holds.lowest();
    for (const c of live) if (start === null || c.start.lsn < start) start = c.start.lsn;
    if (slot.confirmedFlush !== null && (start === null || start < slot.confirmedFlush)) start = slot.confirmedFlush;
    const binary = this.o.config.binaryValues && !live.some((c) => c.textValues);
    for (const c of live) c.rewind();
    this.queuedBytes = live.reduce((n, c) => n + c.queuedBytes, 0);
    this.routed = start ?? 0n;
    this.openTxn = -1n;
    this.binary = binary;
    const conn = await this.o.connect();
    try {
      await startOnSlot(conn, {
        config: this.o.config,
        catalog,
        display: this.o.display,
        startLsn: start ?? 0n,
        binary,
        term: this.o.term?.() ?? null,
      });
    } catch (error) {
      await conn.close();
      throw error;
    }
    this.restarts++;
    this.conn = conn;
    this.statusTimer = setInterval(() => this.sendStatus(false), this.o.config.statusIntervalMs);
    this.statusTimer.unref();
    this.sendStatus(false);
    void this.routeWhileReadable(conn);
  }

  /**
   * Routes frames as the socket has them, for as long as `conn` is the stream's connection:
   * readers wait for frames of their own table only, and are woken when some are routed to them.
   */
  private async routeWhileReadable(conn: ReplicationConnection): Promise<void> {
    while (this.conn === conn && !this.closed) {
      if (this.paused) await this.resumed();
      else {
        this.pump();
        if (!this.paused) await conn.wait(this.o.config.statusIntervalMs).catch(() => {});
      }
    }
  }

  /** Resolves once routing may go on (a reader took frames out, or the joining tables joined). */
  private resumed(): Promise<void> {
    return new Promise((resolve) => this.resumeWaiters.push(resolve));
  }

  private resume(): void {
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const w of waiters) w();
  }

  /** Reports the position every table committed to the slot (nothing while a table has none). */
  sendStatus(force: boolean): void {
    const lsn = this.o.holds.confirmable();
    if (lsn !== null && lsn > this.lastStatus) this.lastStatus = lsn;
    if (this.conn && (force || lsn !== null)) this.conn.sendStatus(this.lastStatus);
  }

  /** Routes the frames the socket has, until none is left or the channels hold `bufferBytes`. */
  pump(): void {
    const conn = this.conn;
    if (conn === null || this.restarting || this.joining > 0) return;
    while (this.queuedBytes < this.o.bufferBytes) {
      let frame: Buffer | null;
      try {
        frame = conn.readFrame();
      } catch (error) {
        this.fail(error);
        return;
      }
      if (frame === null) return;
      this.route(frame);
    }
  }

  /** Whether the channels hold as many bytes as they may: the socket waits. */
  get full(): boolean {
    return this.queuedBytes >= this.o.bufferBytes;
  }

  /** Whether nothing is routed now (channels full, or tables joining): readers wait to be woken. */
  get paused(): boolean {
    return this.full || this.joining > 0;
  }

  private route(frame: Buffer): void {
    if (frame[0] === 0x6b) {
      // keepalive: between transactions, everything before walEnd has been routed
      const ka = parseKeepalive(frame);
      if (ka.replyRequested) this.sendStatus(true);
      if (this.openTxn < 0n) {
        if (ka.walEnd > this.routed) this.routed = ka.walEnd;
        this.activatePending();
      }
      this.toActive(frame);
      return;
    }
    if (frame[0] !== 0x77) return;
    const p = XLOG_DATA_HEADER;
    switch (frame[p]) {
      case BEGIN:
        this.openTxn = frame.readBigUInt64BE(p + 1);
        this.toActive(frame);
        return;
      case COMMIT: {
        this.toActive(frame);
        const commitLsn = frame.readBigUInt64BE(p + 2);
        this.openTxn = -1n;
        if (commitLsn + 1n > this.routed) this.routed = commitLsn + 1n;
        this.activatePending();
        return;
      }
      case RELATION:
      case INSERT:
      case UPDATE:
      case DELETE: {
        const channel = this.byRelation.get(frame.readUInt32BE(p + 1));
        if (channel?.active && channel.failure === null) this.push(channel, frame);
        return;
      }
      case TRUNCATE:
        this.toActive(frame);
        return;
      default:
        return; // origin, type and logical messages: nothing a table reads
    }
  }

  private toActive(frame: Buffer): void {
    for (const channel of this.channels) if (channel.active && channel.failure === null) this.push(channel, frame);
  }

  private push(channel: CaptureChannel, frame: Buffer): void {
    channel.push(frame);
    this.queuedBytes += frame.length;
  }

  /** Channels that joined mid-transaction start at the boundary. */
  private activatePending(): void {
    for (const channel of this.channels) if (!channel.active && channel.failure === null) channel.active = true;
  }

  /** A channel took `bytes` out: when the socket was waiting for room, the others may read again. */
  taken(bytes: number): void {
    const wasFull = this.full;
    this.queuedBytes -= bytes;
    if (wasFull && !this.paused) this.resume();
  }

  wakeAll(): void {
    for (const channel of this.channels) channel.wake();
  }

  /** The stream failed: every channel fails with it; the next table that joins restarts it. */
  private fail(error: unknown): void {
    const conn = this.conn;
    this.conn = null;
    this.resume();
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
    for (const channel of this.channels) channel.fail(error);
    void conn?.close();
  }

  /** Forgets `channel` (its table's source closed or failed). */
  detach(channel: CaptureChannel): void {
    if (!this.channels.delete(channel)) return;
    if (this.byRelation.get(channel.table.oid) === channel) this.byRelation.delete(channel.table.oid);
    this.taken(channel.drain());
  }

  private async stopConnection(): Promise<void> {
    const conn = this.conn;
    this.conn = null;
    this.resume();
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
    if (!conn) return;
    this.sendStatusOn(conn);
    const pid = (conn.client as unknown as { processID: number }).processID;
    await conn.close();
    await slotReleased(await this.o.catalog(), this.o.config.slotName, pid);
  }

  private sendStatusOn(conn: ReplicationConnection): void {
    const lsn = this.o.holds.confirmable();
    if (lsn !== null && lsn > this.lastStatus) this.lastStatus = lsn;
    conn.sendStatus(this.lastStatus);
  }

  /** Closes the connection (a last status update first); channels fail with CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.restarting?.catch(() => {});
    for (const channel of this.channels) channel.fail(definite('CLOSED', `${this.o.display} is closed`));
    await this.stopConnection();
  }
}

/** One table's share of a {@link SharedStream}. */
class CaptureChannel implements ChangeChannel {
  /** Receives routed frames (from the next transaction boundary on, when it joined mid-transaction). */
  active = false;
  /** A frame was handed to the reader: a restart must tell it with REWOUND. */
  delivered = false;
  failure: unknown = null;
  queuedBytes = 0;
  private queue: Buffer[] = [];
  private head = 0;
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly stream: SharedStream,
    readonly table: TableInfo,
    readonly start: ChangePosition,
    readonly textValues: boolean,
  ) {}

  push(frame: Buffer): void {
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    this.wake();
  }

  /** Drops the queued frames (the stream restarts); the reader gets REWOUND first if it read any. */
  rewind(): void {
    this.drain();
    if (this.delivered) this.queue.push(REWOUND);
    this.active = true;
  }

  /** Drops every queued frame; returns their bytes. */
  drain(): number {
    const bytes = this.queuedBytes;
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    return bytes;
  }

  /** The channel fails with `error` (its reader throws it); its queued frames are dropped. */
  fail(error: unknown): void {
    this.failure ??= error;
    this.stream.taken(this.drain());
    this.wake();
  }

  wake(): void {
    for (const w of [...this.wakers]) w();
  }

  readFrame(): Buffer | null {
    if (this.failure) throw this.failure;
    if (this.head === this.queue.length) this.stream.pump();
    if (this.failure) throw this.failure;
    if (this.head === this.queue.length) return null;
    const frame = this.queue[this.head++]!;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    this.delivered = true;
    this.queuedBytes -= frame.length;
    this.stream.taken(frame.length);
    return frame;
  }

  wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return sleepUntilWoken(this.wakers, () => this.head < this.queue.length || Boolean(this.failure), timeoutMs, signal);
  }

  confirm(): void {
    // positions reach the capture through the table's commits (holds); status updates are the stream's
  }

  close(): Promise<void> {
    this.stream.detach(this);
    return Promise.resolve();
  }
}
