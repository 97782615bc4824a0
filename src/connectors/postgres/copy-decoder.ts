/**
 * Incremental decoder of `COPY … TO STDOUT (FORMAT binary)` output into a BatchBuilder.
 *
 * Chunks from the socket do not align with rows, so an incomplete row at the end of a chunk
 * is kept and completed by the next one. Values go straight from the wire buffer into the
 * column builders; no per-row JS objects are created.
 */
import type { BatchBuilder } from '../../sdk/batch.js';
import { definite } from '../../sdk/errors.js';
import type { BoolColumnBuilder, ColumnBuilder, Int32ColumnBuilder, Int64ColumnBuilder, Utf8ColumnBuilder } from '../../sdk/builders.js';
import { FAST, decodeTimestamp, type ColumnCodec } from './types.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Why {@link CopyDecoder.decode} returned. */
export type DecodeStop = 'full' | 'need-more' | 'end';

export class CopyDecoder {
  private pending: Buffer | null = null;
  private headerRead = false;
  /** True once the trailer (field count −1) was read. */
  ended = false;
  /** Block and line pointer of the last row decoded (when the first selected column is `ctid`). */
  lastBlock = -1;
  lastOffset = -1;
  private readonly fast: Uint8Array;

  constructor(
    private readonly codecs: readonly ColumnCodec[],
    private readonly withCtid: boolean,
    private readonly table: string,
  ) {
    this.fast = Uint8Array.from(codecs.map((c) => c.fast));
  }

  /** Chunks (or their unread ends) not yet merged into `pending`. */
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  /** Bytes `pending` must hold (from the start of its incomplete row) before decoding can go on. */
  private need = 0;

  /** Adds a chunk of COPY data. */
  feed(chunk: Buffer): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
  }

  /** Bytes buffered but not decoded yet. */
  get bufferedBytes(): number {
    return (this.pending?.length ?? 0) + this.queuedBytes;
  }

  /**
   * Moves queued bytes into `pending`. An empty `pending` takes the next chunk as it is (no
   * copy); an incomplete row is completed with just the bytes it needs, so a row split between
   * chunks costs a small copy, and a value spanning many chunks is copied once. Returns false
   * when the queued bytes cannot complete the row yet.
   */
  private merge(): boolean {
    if (this.queue.length === 0) return false;
    const pending = this.pending;
    if (pending === null || pending.length === 0) {
      const next = this.queue.shift()!;
      this.queuedBytes -= next.length;
      this.pending = next;
      return true;
    }
    const missing = Math.max(1, this.need - pending.length);
    if (this.queuedBytes < missing) return false;
    const pieces = [pending];
    let got = 0;
    while (got < missing) {
      const head = this.queue[0]!;
      const n = Math.min(head.length, missing - got);
      pieces.push(n === head.length ? head : head.subarray(0, n));
      got += n;
      if (n === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(n);
    }
    this.queuedBytes -= got;
    this.pending = Buffer.concat(pieces);
    return true;
  }

  /**
   * Decodes complete rows into `builder` until it holds `maxRows` rows or `maxBytes` bytes
   * ('full'), the buffered data ends mid-row ('need-more'), or the trailer is reached ('end').
   */
  decode(builder: BatchBuilder, maxRows: number, maxBytes: number): DecodeStop {
    for (;;) {
      const stop = this.decodePending(builder, maxRows, maxBytes);
      if (stop !== 'need-more' || !this.merge()) return stop;
    }
  }

  /** Decodes the rows in `pending`; see {@link decode}. */
  private decodePending(builder: BatchBuilder, maxRows: number, maxBytes: number): DecodeStop {
    const buf = this.pending;
    if (buf === null) return this.ended ? 'end' : 'need-more';
    this.need = 0;
    const end = buf.length;
    // DataView reads are compiled to plain loads; Buffer.readInt32BE is a bounds-checked call
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = 0;
    if (!this.headerRead) {
      this.need = 19;
      if (end < 19) return 'need-more';
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw definite('INTERNAL', 'COPY output does not start with the binary signature', { table: this.table });
      const extension = buf.readUInt32BE(15);
      this.need = 19 + extension;
      if (end < 19 + extension) return 'need-more';
      pos = 19 + extension;
      this.headerRead = true;
    }
    const codecs = this.codecs;
    const fast = this.fast;
    const columns = builder.columns;
    const ncols = codecs.length;
    const expected = ncols + (this.withCtid ? 1 : 0);
    let stop: DecodeStop = 'need-more';
    // Byte size is checked every 64 rows: summing builder sizes per row would cost more than decoding.
    let rowsSinceSizeCheck = 0;
    for (;;) {
      if (builder.rows >= maxRows) {
        stop = 'full';
        break;
      }
      if (rowsSinceSizeCheck >= 64) {
        rowsSinceSizeCheck = 0;
        if (builder.byteLength >= maxBytes) {
          stop = 'full';
          break;
        }
      }
      if (pos + 2 > end) {
        this.need = 2;
        break;
      }
      const fields = view.getInt16(pos);
      if (fields === -1) {
        pos += 2;
        this.ended = true;
        stop = 'end';
        break;
      }
      if (fields !== expected) throw definite('INTERNAL', `COPY row has ${fields} fields, expected ${expected}`, { table: this.table });
      // find the row's end first so that a row is decoded only when complete
      let p = pos + 2;
      let complete = true;
      for (let f = 0; f < fields; f++) {
        if (p + 4 > end) {
          complete = false;
          p += 4;
          break;
        }
        const len = view.getInt32(p);
        p += 4 + (len > 0 ? len : 0);
        if (p > end) {
          complete = false;
          break;
        }
      }
      if (!complete) {
        // at least this many bytes (from the row start) are needed before retrying
        this.need = p - pos;
        break;
      }
      p = pos + 2;
      if (this.withCtid) {
        const block = view.getUint32(p + 4);
        const offset = view.getUint16(p + 8);
        // resume points are "after this ctid": a scan that went back would lose rows on resume
        if (block < this.lastBlock || (block === this.lastBlock && offset <= this.lastOffset)) {
          throw definite('INTERNAL', `snapshot scan of ${this.table} went back from ctid (${this.lastBlock},${this.lastOffset}) to (${block},${offset})`, { table: this.table });
        }
        this.lastBlock = block;
        this.lastOffset = offset;
        p += 10;
      }
      for (let c = 0; c < ncols; c++) {
        const len = view.getInt32(p);
        p += 4;
        if (len < 0) columns[c]!.appendNull();
        else {
          decodeValue(fast[c]!, codecs[c]!, buf, p, len, columns[c]!);
          p += len;
        }
      }
      builder.endRow();
      rowsSinceSizeCheck++;
      pos = p;
    }
    this.pending = pos >= end ? null : buf.subarray(pos);
    if (stop === 'need-more' && builder.byteLength >= maxBytes) stop = 'full';
    return stop;
  }
}

/** Decodes one value; the common types inline (monomorphic calls), the others via their codec. */
function decodeValue(kind: number, codec: ColumnCodec, buf: Buffer, p: number, len: number, col: ColumnBuilder): void {
  switch (kind) {
    case FAST.int8:
      (col as Int64ColumnBuilder).appendInt64BE(buf, p);
      return;
    case FAST.bytes:
      (col as Utf8ColumnBuilder).appendBytes(buf, p, p + len);
      return;
    case FAST.bool:
      (col as BoolColumnBuilder).append(buf[p] !== 0);
      return;
    case FAST.timestamp:
      decodeTimestamp(buf, p, len, col);
      return;
    case FAST.int4:
      (col as Int32ColumnBuilder).append(buf.readInt32BE(p));
      return;
    default:
      codec.decodeBinary(buf, p, len, col);
  }
}
