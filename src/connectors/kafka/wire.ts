/**
 * Kafka wire-format pieces the sink encodes itself, for speed: murmur2 partitioning (the
 * Java client's, so every client puts a key in the same partition), CRC-32C, and v2 record
 * batches (magic 2, uncompressed). Encoding a batch is one pass into one buffer.
 */

import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { ByteOut } from '../../sinks/json/byte-out.js';

const gzipAsync = promisify(gzip);

const M = 0x5bd1e995;

/** Kafka's murmur2 of `data` (as `org.apache.kafka.common.utils.Utils.murmur2`). */
export function murmur2(data: Uint8Array, start = 0, end = data.length): number {
  const length = end - start;
  let h = (0x9747b28c ^ length) | 0;
  const blocks = start + (length & ~3);
  for (let i = start; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & 3;
  if (tail === 3) h ^= data[blocks + 2]! << 16;
  if (tail >= 2) h ^= data[blocks + 1]! << 8;
  if (tail >= 1) {
    h ^= data[blocks]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

const scratch = Buffer.allocUnsafe(4096);

/** The partition of a (UTF-8) key among `partitions`: positive murmur2 modulo the count. */
export function keyPartition(key: string, partitions: number): number {
  const bytes = key.length * 3 <= scratch.length ? scratch.subarray(0, scratch.write(key, 0, 'utf8')) : Buffer.from(key, 'utf8');
  return (murmur2(bytes) & 0x7fffffff) % partitions;
}

// CRC-32C (Castagnoli), slicing-by-16: table t maps a byte that is t positions from the
// end of a 16-byte block to its contribution to the CRC.
const CRC_TABLE: Int32Array = (() => {
  const table = new Int32Array(256 * 16);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n]!;
    for (let t = 1; t < 16; t++) {
      c = table[c & 0xff]! ^ (c >>> 8);
      table[t * 256 + n] = c;
    }
  }
  return table;
})();

/** Whole 32-bit words are read natively, which needs a little-endian machine. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** CRC-32C of `data[start, end)`, unsigned. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  const T = CRC_TABLE;
  let crc = -1;
  let i = start;
  if (LITTLE_ENDIAN) {
    while (i < end && ((data.byteOffset + i) & 3) !== 0) crc = T[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
    const blocks = ((end - i) >>> 2) & ~3;
    const words = blocks === 0 ? new Int32Array(0) : new Int32Array(data.buffer, data.byteOffset + i, blocks);
    for (let w = 0; w < blocks; w += 4) {
      const a = crc ^ words[w]!;
      const b = words[w + 1]!;
      const c = words[w + 2]!;
      const d = words[w + 3]!;
      crc =
        T[3840 + (a & 0xff)]! ^
        T[3584 + ((a >>> 8) & 0xff)]! ^
        T[3328 + ((a >>> 16) & 0xff)]! ^
        T[3072 + (a >>> 24)]! ^
        T[2816 + (b & 0xff)]! ^
        T[2560 + ((b >>> 8) & 0xff)]! ^
        T[2304 + ((b >>> 16) & 0xff)]! ^
        T[2048 + (b >>> 24)]! ^
        T[1792 + (c & 0xff)]! ^
        T[1536 + ((c >>> 8) & 0xff)]! ^
        T[1280 + ((c >>> 16) & 0xff)]! ^
        T[1024 + (c >>> 24)]! ^
        T[768 + (d & 0xff)]! ^
        T[512 + ((d >>> 8) & 0xff)]! ^
        T[256 + ((d >>> 16) & 0xff)]! ^
        T[d >>> 24]!;
    }
    i += blocks * 4;
  }
  for (; i < end; i++) crc = T[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** One record to encode. Strings are written as UTF-8; `null` value = tombstone. */
export interface WireRecord {
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string | Buffer> | undefined;
}

function varintSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let n = 1;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}

/** Writes `value` as a zigzag varint at `offset`; returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[offset++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[offset++] = v;
  return offset;
}

function byteLength(value: string | Buffer | null): number {
  if (value === null) return -1;
  return typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
}

/** Reads the zigzag varint at `offset`: its value and the offset after it. */
export function readVarint(buf: Uint8Array, offset: number): [number, number] {
  let result = 0;
  let shift = 0;
  let o = offset;
  for (;;) {
    const b = buf[o++]!;
    result |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7;
  }
  return [(result >>> 1) ^ -(result & 1), o];
}

function writeBytes(buf: Buffer, offset: number, value: string | Buffer, length: number): number {
  if (typeof value === 'string') buf.write(value, offset, length, 'utf8');
  else value.copy(buf, offset);
  return offset + length;
}

const headerNames = new Map<string, Buffer>();
function headerName(name: string): Buffer {
  let b = headerNames.get(name);
  if (b === undefined) {
    b = Buffer.from(name, 'utf8');
    if (headerNames.size < 1024) headerNames.set(name, b);
  }
  return b;
}

const BATCH_HEADER_BYTES = 61;

/** Encodes records as one uncompressed v2 record batch (base offset 0, no producer id). */
export function encodeRecordBatch(records: readonly WireRecord[], timestamp = Date.now()): Buffer {
  const writer = new RecordBatchWriter(BATCH_HEADER_BYTES + records.length * 64);
  for (const r of records) writer.append(r);
  return writer.finish(timestamp);
}

/**
 * Builds one v2 record batch incrementally: records are encoded into a growing buffer as
 * they arrive (so a queue of pending records is a few buffers, not an object per record),
 * and `finish` writes the batch header (the CRC comes last: {@link sealRecordBatch}).
 *
 * Two ways in: `append` for a record given as strings/buffers, and the in-place sequence
 * `beginRecord` → value bytes written to `out` → `endValue` → header bytes → `endRecord`,
 * which lets encoders render values straight into the batch without a copy.
 */
export class RecordBatchWriter {
  /** The batch bytes; between `beginRecord` and `endRecord`, callers append to it. */
  readonly out: ByteOut;
  private count = 0;
  private recordStart = 0;
  private valueLengthAt = 0;
  private largest = 0;

  /** @param reuse - a buffer to write into (from a batch already sent), instead of a new one */
  constructor(initialBytes = 64 * 1024, reuse?: Buffer) {
    const size = Math.max(initialBytes, 256);
    this.out = new ByteOut(size, reuse !== undefined && reuse.length >= size ? reuse : undefined);
    this.out.pos = BATCH_HEADER_BYTES;
  }

  /** Records appended so far. */
  get records(): number {
    return this.count;
  }

  /** Bytes of the batch so far. */
  get byteLength(): number {
    return this.out.pos;
  }

  append(r: WireRecord): void {
    const kl = byteLength(r.key);
    const vl = byteLength(r.value);
    const i = this.count;
    let size = 1 + 1 + varintSize(i) + varintSize(kl) + Math.max(kl, 0) + varintSize(vl) + Math.max(vl, 0);
    let headers = 0;
    if (r.headers !== undefined) {
      for (const name in r.headers) {
        const nl = headerName(name).length;
        const hl = byteLength(r.headers[name]!);
        size += varintSize(nl) + nl + varintSize(hl) + hl;
        headers++;
      }
    }
    size += varintSize(headers);
    this.out.ensure(varintSize(size) + size);
    this.largest = Math.max(this.largest, varintSize(size) + size);
    const buf = this.out.buf;
    let o = writeVarint(buf, this.out.pos, size);
    buf[o++] = 0; // attributes
    buf[o++] = 0; // timestamp delta (zigzag 0)
    o = writeVarint(buf, o, i); // offset delta
    o = writeVarint(buf, o, kl);
    if (kl > 0) o = writeBytes(buf, o, r.key!, kl);
    o = writeVarint(buf, o, vl);
    if (vl > 0) o = writeBytes(buf, o, r.value!, vl);
    o = writeVarint(buf, o, headers);
    if (r.headers !== undefined) {
      for (const name in r.headers) {
        const nameBytes = headerName(name);
        o = writeVarint(buf, o, nameBytes.length);
        o += nameBytes.copy(buf, o);
        const value = r.headers[name]!;
        const hl = byteLength(value);
        o = writeVarint(buf, o, hl);
        if (hl > 0) o = writeBytes(buf, o, value, hl);
      }
    }
    this.out.pos = o;
    this.count = i + 1;
  }

  /**
   * Starts a record with key `key[0, keyLength)`; the value's bytes go to `out` next. The
   * record's and the value's length fields get two bytes each (a 64..8191-byte record) and
   * are moved in the rare case they need another width.
   */
  beginRecord(key: Uint8Array, keyLength: number): void {
    const out = this.out;
    out.ensure(keyLength + 16);
    const buf = out.buf;
    this.recordStart = out.pos;
    let o = out.pos + 2;
    buf[o++] = 0; // attributes
    buf[o++] = 0; // timestamp delta
    o = writeVarint(buf, o, this.count);
    o = writeVarint(buf, o, keyLength);
    for (let k = 0; k < keyLength; k++) buf[o++] = key[k]!;
    this.valueLengthAt = o;
    out.pos = o + 2;
  }

  /** Ends the value written since `beginRecord` (`tombstone`: a null value, nothing written). */
  endValue(tombstone: boolean): void {
    const start = this.valueLengthAt + 2;
    const length = tombstone ? -1 : this.out.pos - start;
    this.placeLength(this.valueLengthAt, start, length);
  }

  /** Ends the record; its headers section (count, then headers) was written after the value. */
  endRecord(): void {
    const start = this.recordStart + 2;
    this.placeLength(this.recordStart, start, this.out.pos - start);
    this.count++;
    this.largest = Math.max(this.largest, this.out.pos - this.recordStart);
  }

  /** Bytes of the largest record appended so far. */
  get largestRecord(): number {
    return this.largest;
  }

  /**
   * Keeps the records that fit in `maxBytes` (at least one) and moves the rest, in order, to
   * a new writer (null when everything fits). Records are re-encoded with their new offset
   * deltas; everything else about them is copied as is.
   */
  splitAt(maxBytes: number): RecordBatchWriter | null {
    if (this.out.pos <= maxBytes || this.count <= 1) return null;
    const buf = this.out.buf;
    let o = BATCH_HEADER_BYTES;
    let kept = 0;
    for (; kept < this.count; kept++) {
      const [length, after] = readVarint(buf, o);
      if (kept > 0 && after + length > maxBytes) break;
      o = after + length;
    }
    if (kept === this.count) return null;
    const rest = new RecordBatchWriter(this.out.pos - o + 64);
    let r = o;
    for (let i = kept; i < this.count; i++) {
      const [length, bodyStart] = readVarint(buf, r);
      const end = bodyStart + length;
      const [, afterDelta] = readVarint(buf, bodyStart + 2); // attributes, timestamp delta, offset delta
      rest.appendBody(buf, bodyStart, afterDelta, end);
      r = end;
    }
    this.out.pos = o;
    this.count = kept;
    return rest;
  }

  /** Appends a record given as its first two bytes `[start, start+2)` and the part after the offset delta `[tail, end)`. */
  private appendBody(src: Buffer, start: number, tail: number, end: number): void {
    const i = this.count;
    const size = 2 + varintSize(i) + (end - tail);
    this.out.ensure(5 + size);
    const buf = this.out.buf;
    let o = writeVarint(buf, this.out.pos, size);
    buf[o++] = src[start]!;
    buf[o++] = src[start + 1]!;
    o = writeVarint(buf, o, i);
    o += src.copy(buf, o, tail, end);
    this.out.pos = o;
    this.count = i + 1;
    this.largest = Math.max(this.largest, varintSize(size) + size);
  }

  /** Writes varint `length` into the two bytes at `at`, moving `[start, pos)` if it needs another width. */
  private placeLength(at: number, start: number, length: number): void {
    const width = varintSize(length);
    if (width !== 2) {
      const shift = width - 2;
      this.out.ensure(shift > 0 ? shift : 0);
      this.out.buf.copyWithin(start + shift, start, this.out.pos);
      this.out.pos += shift;
    }
    writeVarint(this.out.buf, at, length);
  }

  /** The buffer the batch is written in (to reuse once the batch is sent and acknowledged). */
  get buffer(): Buffer {
    return this.out.buf;
  }

  /** The finished batch (the writer must not be used afterwards). */
  finish(timestamp = Date.now()): Buffer {
    const buf = this.out.buf;
    const total = this.out.pos;
    buf.writeBigInt64BE(0n, 0); // base offset (assigned by the broker)
    buf.writeInt32BE(total - 12, 8); // batch length: everything after this field
    buf.writeInt32BE(-1, 12); // partition leader epoch
    buf.writeInt8(2, 16); // magic
    buf.writeInt16BE(0, 21); // attributes: no compression, create time, not transactional
    buf.writeInt32BE(this.count - 1, 23); // last offset delta
    buf.writeBigInt64BE(BigInt(timestamp), 27); // first timestamp
    buf.writeBigInt64BE(BigInt(timestamp), 35); // max timestamp
    buf.writeBigInt64BE(-1n, 43); // producer id
    buf.writeInt16BE(-1, 51); // producer epoch
    buf.writeInt32BE(-1, 53); // base sequence
    buf.writeInt32BE(this.count, 57); // record count
    buf.writeUInt32BE(0, 17); // the CRC is written once the producer fields are final
    return buf.subarray(0, total);
  }
}

/**
 * Writes the CRC of a finished batch (over attributes..end). Done once, after compression and
 * the producer stamp, right before the batch is first sent: the CRC is the sink's costliest
 * step per byte, and everything before it may still change the bytes it covers.
 */
export function sealRecordBatch(batch: Buffer): void {
  batch.writeUInt32BE(crc32c(batch, 21, batch.length), 17);
}

/**
 * A finished batch with its records gzip-compressed (attributes codec 1), as Kafka stores
 * compressed batches. Compression runs on libuv's thread pool, off the main thread.
 */
export async function gzipRecordBatch(batch: Buffer): Promise<Buffer> {
  const compressed = await gzipAsync(batch.subarray(BATCH_HEADER_BYTES), { level: 6 });
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + compressed.length);
  batch.copy(out, 0, 0, BATCH_HEADER_BYTES);
  compressed.copy(out, BATCH_HEADER_BYTES);
  out.writeInt32BE(out.length - 12, 8); // batch length
  out.writeInt16BE(1, 21); // attributes: gzip, create time, not transactional
  return out; // unsealed, as the batch it compresses
}

/**
 * Sets the producer id, epoch and base sequence of a finished (possibly compressed) batch;
 * {@link sealRecordBatch} then writes the CRC, which covers those fields.
 */
export function stampProducer(batch: Buffer, producerId: bigint, epoch: number, baseSequence: number): void {
  batch.writeBigInt64BE(producerId, 43);
  batch.writeInt16BE(epoch, 51);
  batch.writeInt32BE(baseSequence, 53);
}
