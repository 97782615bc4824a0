/**
 * Incremental decoder of `COPY … TO STDOUT (FORMAT binary)` output into a BatchBuilder.
 *
 * It reads the protocol bytes as the socket delivered them ({@link CopyOut}): the server sends
 * one CopyData message per row (the first one also carries the file header, the last one the
 * trailer), so message headers are skipped between rows and the bytes need no reassembly.
 * Chunks from the socket do not align with rows, so an incomplete row at the end of a chunk
 * is kept and completed by the next one. Values go straight from the wire buffer into the
 * column builders; no per-row JS objects are created.
 */
import type { BatchBuilder } from '../../sdk/batch.js';
import { definite } from '../../sdk/errors.js';
import type {
  BoolColumnBuilder,
  Date32ColumnBuilder,
  Decimal128ColumnBuilder,
  FixedSizeBinaryColumnBuilder,
  Float32ColumnBuilder,
  Float64ColumnBuilder,
  Int16ColumnBuilder,
  Int32ColumnBuilder,
  Int64ColumnBuilder,
  TimestampColumnBuilder,
  Utf8ColumnBuilder,
} from '../../sdk/builders.js';
import { MESSAGE } from './copy-out.js';
import { FAST, appendNumericSafe, appendPgTimestamp, unixDays, type ColumnCodec } from './types.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Why {@link CopyDecoder.decode} returned. */
export type DecodeStop = 'full' | 'need-more' | 'end';

export class CopyDecoder {
  private pending: Buffer | null = null;
  private headerRead = false;
  private trailerRead = false;
  /** True once the trailer (field count −1) and CopyDone were read. */
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
      // an empty buffer is handled here, not in decodePending: this path is first taken late
      // (a chunk ending exactly at a row end), and would throw decodePending's optimized code away
      if (this.pending === null && !this.merge()) return this.ended ? 'end' : 'need-more';
      const stop = this.decodePending(builder, maxRows, maxBytes);
      if (stop !== 'need-more' || !this.merge()) return stop;
    }
  }

  /** Decodes the rows in `pending`; see {@link decode}. */
  private decodePending(builder: BatchBuilder, maxRows: number, maxBytes: number): DecodeStop {
    const buf = this.pending!;
    this.need = 0;
    const end = buf.length;
    // DataView reads are compiled to plain loads; Buffer.readInt32BE is a bounds-checked call
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = 0;
    const codecs = this.codecs;
    const fast = this.fast;
    const columns = builder.columns;
    const ncols = codecs.length;
    const expected = ncols + (this.withCtid ? 1 : 0);
    let stop: DecodeStop = 'need-more';
    for (;;) {
      if (builder.rows >= maxRows) {
        stop = 'full';
        break;
      }
      if (this.wireSinceCheck >= this.wireBudget && this.reachedBytes(builder, maxBytes)) {
        stop = 'full';
        break;
      }
      // one whole message at a time: a CopyData message is one row, so a complete message is a complete row
      if (pos + 5 > end) {
        this.need = 5;
        break;
      }
      const code = buf[pos]!;
      const messageEnd = pos + 1 + view.getInt32(pos + 1);
      if (messageEnd > end) {
        this.need = messageEnd - pos;
        break;
      }
      let p = pos + 5;
      this.wireSinceCheck += messageEnd - pos;
      pos = messageEnd;
      if (code !== MESSAGE.copyData) {
        if (code !== MESSAGE.copyDone) continue; // CopyOutResponse, NoticeResponse, ParameterStatus, NotificationResponse
        if (!this.trailerRead) throw definite('INTERNAL', `COPY of ${this.table} ended without its trailer`, { table: this.table });
        this.ended = true;
        stop = 'end';
        break;
      }
      if (!this.headerRead) {
        if (p + 19 > messageEnd || !buf.subarray(p, p + 11).equals(SIGNATURE)) {
          throw definite('INTERNAL', 'COPY output does not start with the binary signature', { table: this.table });
        }
        p += 19 + view.getUint32(p + 15);
        this.headerRead = true;
        if (p === messageEnd) continue;
      }
      const fields = view.getInt16(p);
      p += 2;
      if (fields === -1) {
        this.trailerRead = true;
        continue;
      }
      if (fields !== expected) throw definite('INTERNAL', `COPY row has ${fields} fields, expected ${expected}`, { table: this.table });
      if (this.withCtid) {
        const block = view.getUint32(p + 4);
        const offset = view.getUint16(p + 8);
        // resume points are "after this ctid": a scan that went back would lose rows on resume
        if (block < this.lastBlock || (block === this.lastBlock && offset <= this.lastOffset)) {
          throw definite(
            'INTERNAL',
            `snapshot scan of ${this.table} went back from ctid (${this.lastBlock},${this.lastOffset}) to (${block},${offset})`,
            { table: this.table },
          );
        }
        this.lastBlock = block;
        this.lastOffset = offset;
        p += 10;
      }
      for (let c = 0; c < ncols; c++) {
        const len = view.getInt32(p);
        p += 4;
        const col = columns[c]!;
        if (len < 0) {
          col.appendNull();
          continue;
        }
        if (p + len > messageEnd)
          throw definite('INTERNAL', `COPY row of ${this.table} runs past its CopyData message`, { table: this.table });
        // The common types inline, each call site seeing one builder class; DataView reads
        // compile to plain loads. Literal labels make a jump table (`satisfies` keeps them
        // equal to FAST). Each case must give what the codec's decodeBinary gives
        // (test/postgres/copy-decoder-fast.test.ts).
        switch (fast[c]!) {
          case 1 satisfies typeof FAST.int8:
            (col as Int64ColumnBuilder).appendWords(view.getInt32(p + 4), view.getInt32(p));
            break;
          case 2 satisfies typeof FAST.bytes:
            (col as Utf8ColumnBuilder).appendBytesFrom(view, p, p + len);
            break;
          case 3 satisfies typeof FAST.bool:
            (col as BoolColumnBuilder).append(buf[p] !== 0);
            break;
          case 4 satisfies typeof FAST.timestamp:
            appendPgTimestamp(col as TimestampColumnBuilder, view.getInt32(p), view.getUint32(p + 4));
            break;
          case 5 satisfies typeof FAST.int4:
            (col as Int32ColumnBuilder).append(view.getInt32(p));
            break;
          case 6 satisfies typeof FAST.int2:
            (col as Int16ColumnBuilder).append(view.getInt16(p));
            break;
          case 7 satisfies typeof FAST.float4:
            (col as Float32ColumnBuilder).append(view.getFloat32(p));
            break;
          case 8 satisfies typeof FAST.float8:
            (col as Float64ColumnBuilder).append(view.getFloat64(p));
            break;
          case 9 satisfies typeof FAST.date:
            (col as Date32ColumnBuilder).append(unixDays(view.getInt32(p)));
            break;
          case 10 satisfies typeof FAST.uuid:
            (col as FixedSizeBinaryColumnBuilder).appendBytesFrom(view, p);
            break;
          case 11 satisfies typeof FAST.decimal:
            if (!appendNumericSafe(buf, p, (col as Decimal128ColumnBuilder).scale, col as Decimal128ColumnBuilder))
              codecs[c]!.decodeBinary(buf, p, len, col);
            break;
          default:
            codecs[c]!.decodeBinary(buf, p, len, col);
        }
        p += len;
      }
      if (p !== messageEnd)
        throw definite('INTERNAL', `COPY row of ${this.table} does not fill its CopyData message`, { table: this.table });
      builder.endRow();
    }
    this.pending = pos >= end ? null : buf.subarray(pos);
    if (stop === 'need-more' && this.wireSinceCheck >= this.wireBudget && this.reachedBytes(builder, maxBytes)) stop = 'full';
    return stop;
  }

  /**
   * Wire bytes decoded since `builder.byteLength` was last read, and how many may pass before
   * it is read again. Summing every column's size costs more than decoding a row, so it is read
   * only when the batch may have reached `maxBytes`: a value takes at most four times its wire
   * size in Arrow (a NULL decimal: 4 bytes → 16), so after an eighth of the remaining bytes on
   * the wire the batch has grown by at most half of what remained.
   */
  private wireSinceCheck = 0;
  private wireBudget = 0;

  private reachedBytes(builder: BatchBuilder, maxBytes: number): boolean {
    const bytes = builder.byteLength;
    this.wireSinceCheck = 0;
    this.wireBudget = Math.max(4096, (maxBytes - bytes) / 8);
    return bytes >= maxBytes;
  }
}
