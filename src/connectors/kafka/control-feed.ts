/**
 * The Kafka source's side of the control topic (control-writer.ts writes it). Each control
 * record carries, per data partition, the offset it stands before; the feed places it there
 * among the partition's records as a record with the headers it had when earlier versions
 * wrote it into the data topic, so the snapshot and change readers apply both layouts alike.
 *
 * Data is read only below the offsets of the latest control record known ("released"): a
 * control record still to come is always placed at or above them, so nothing read can turn
 * out to belong after a marker not yet seen. Every flush of the writer releases what it wrote.
 *
 * A topic without a control topic (written by earlier versions, whose control records are in
 * the data topic) is read as before, all of it released; the control topic is looked for
 * again now and then, for writers upgraded while a reader runs.
 */
import type { Kafka } from 'kafkajs';
import { PartitionReader, type FetchedRecord } from './fetcher.js';
import { controlHeaders, decodeControlRecord, type ControlRecord } from './records.js';
import type { StreamState } from './source-checkpoint.js';

/** A control record and where it is in the control topic. */
export interface ControlEvent {
  /** Offset in the control topic (its one partition). */
  at: bigint;
  record: ControlRecord;
}

/** A record as the readers take it: read from the data topic, or a control record placed among them. */
export interface ReadRecord extends FetchedRecord {
  /** Set on control records from the control topic: where they come from and the offset they stand before. */
  placed?: { at: bigint; boundary: bigint };
}

/** Bytes of control records fetched at a time. */
const CONTROL_FETCH_BYTES = 1 << 20;
/** How often a reader without a control topic looks for one (one small metadata request). */
const RECHECK_MS = 2_000;

/** The offset `record` stands before in `partition` (0 for partitions it does not know: added later). */
export function boundaryOf(record: ControlRecord, partition: number): bigint {
  return record.offsets[partition] ?? 0n;
}

/** The control topic of one source. */
export class ControlFeed {
  private reader: PartitionReader | null = null;
  private lastLook = 0;
  /** Next control-topic offset to fetch. */
  private fetched = 0n;
  /** The control topic's first offset when it was found (earlier ones were deleted). */
  private first = 0n;
  /** Control records fetched that some partition has not applied yet, in control-topic order. */
  private pending: ControlEvent[] = [];
  /** Per data partition, the offset below which its records may be read. */
  private readonly released = new Map<number, bigint>();

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
  ) {}

  /** True once the control topic was found: data is read only as far as control records release it. */
  get active(): boolean {
    return this.reader !== null;
  }

  /**
   * Looks for the control topic through `data` (the data topic's connected reader) unless it
   * was found already or looked for less than `RECHECK_MS` ago (`force`: look now). Resolves
   * true when it is there; reading starts at `from` with every partition released up to `offsets`.
   */
  async discover(data: PartitionReader, offsets: Map<number, bigint>, force = false): Promise<boolean> {
    if (this.reader !== null) return true;
    if (!force && Date.now() - this.lastLook < RECHECK_MS) return false;
    this.lastLook = Date.now();
    if (!(await data.topicExists(this.topic))) return false;
    const reader = new PartitionReader(this.kafka, this.topic);
    try {
      await reader.connect();
    } catch (error) {
      await reader.close();
      throw error;
    }
    this.reader = reader;
    this.first = (await reader.offsets([0], 'start')).get(0) ?? 0n;
    this.restart(this.first, offsets);
    return true;
  }

  /** Reads from control-topic offset `from` on (or its first offset, if later), with partitions released up to `offsets`. */
  restart(from: bigint, offsets: Map<number, bigint>): void {
    this.fetched = from > this.first ? from : this.first;
    this.pending = [];
    this.released.clear();
    for (const [p, o] of offsets) this.released.set(p, o);
  }

  /** The end of the control topic: records below it are readable (read_committed). */
  async end(): Promise<bigint> {
    return (await this.reader!.offsets([0], 'end')).get(0) ?? 0n;
  }

  /**
   * Reads control records from `from` up to `end`, handing each to `visit` (the snapshot reads
   * them all once, keeping what it needs). Unreadable records are skipped.
   */
  async scan(from: bigint, end: bigint, visit: (event: ControlEvent) => void): Promise<void> {
    for (let next = from; next < end;) {
      const ends = new Map<number, bigint>();
      const records = await this.reader!.fetch(new Map([[0, next]]), 100, CONTROL_FETCH_BYTES, ends);
      let moved = false;
      for (const r of records) {
        if (r.offset < next || r.offset >= end) continue;
        next = r.offset + 1n;
        moved = true;
        const record = decodeControlRecord(r.value);
        if (record !== null) visit({ at: r.offset, record });
      }
      // Nothing readable below the end: aborted transactions, or records compacted away.
      if (!moved) next = end;
    }
  }

  /**
   * The highest data offset released in `partition`: records below it may be read. Null
   * without a control topic (everything may be read).
   */
  limit(partition: number): bigint | null {
    if (this.reader === null) return null;
    return this.released.get(partition) ?? 0n;
  }

  /**
   * Fetches the next control records, waiting up to `waitMs` for one; returns true when any
   * arrived. Called when a partition has read everything released to it.
   */
  async more(waitMs: number): Promise<boolean> {
    if (this.reader === null) return false;
    const reached = new Map<number, bigint>();
    const records = await this.reader.fetch(new Map([[0, this.fetched]]), waitMs, CONTROL_FETCH_BYTES, reached);
    let got = false;
    for (const r of records) {
      if (r.offset < this.fetched) continue;
      this.fetched = r.offset + 1n;
      const record = decodeControlRecord(r.value);
      if (record === null) continue;
      this.pending.push({ at: r.offset, record });
      record.offsets.forEach((o, p) => {
        if (o > (this.released.get(p) ?? 0n)) this.released.set(p, o);
      });
      got = true;
    }
    const to = reached.get(0);
    if (to !== undefined && to > this.fetched) this.fetched = to; // past aborted records and markers
    return got;
  }

  /** True when `event` is still to be applied in `partition` (see {@link StreamState.control}). */
  private due(event: ControlEvent, partition: number, state: StreamState): boolean {
    const cursor = state.control.get(partition);
    // Without a cursor (the partition was read before its control topic was), the records
    // placed below the partition's read position were passed already; one placed right there
    // is still to come.
    return cursor !== undefined ? event.at >= cursor : boundaryOf(event.record, partition) >= (state.offsets.get(partition) ?? 0n);
  }

  /**
   * The records of `partition` in reading order: `records` (fetched, at or above the read
   * position, in offset order) below the released limit, with the pending control records
   * placed among them. `seenTo`: every record of the partition below it is in `records` or was
   * read already, so a control record placed there has nothing unread before it. Control
   * records keep their order: one that cannot be placed yet holds back those after it.
   */
  arrange(partition: number, records: readonly FetchedRecord[], seenTo: bigint, state: StreamState): ReadRecord[] {
    const limit = this.limit(partition);
    const events = this.pending.filter((e) => this.due(e, partition, state));
    const out: ReadRecord[] = [];
    let e = 0;
    const placeUpTo = (offset: bigint): void => {
      while (e < events.length && boundaryOf(events[e]!.record, partition) <= offset) {
        const { at, record } = events[e++]!;
        const boundary = boundaryOf(record, partition);
        out.push({ partition, offset: boundary - 1n, key: null, value: null, headers: controlHeaders(record), placed: { at, boundary } });
      }
    };
    for (const r of records) {
      if (limit !== null && r.offset >= limit) break;
      placeUpTo(r.offset);
      out.push(r);
    }
    placeUpTo(seenTo);
    return out;
  }

  /** Forgets the control records every partition has applied. */
  trim(state: StreamState): void {
    this.pending = this.pending.filter((e) => [...state.offsets.keys()].some((p) => this.due(e, p, state)));
  }

  async close(): Promise<void> {
    const reader = this.reader;
    this.reader = null;
    await reader?.close();
  }
}
