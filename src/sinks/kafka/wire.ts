/**
 * Kafka wire-format pieces the sink encodes itself, for speed: murmur2 partitioning (the
 * Java client's, so every client puts a key in the same partition), CRC-32C, and v2 record
 * batches (magic 2, uncompressed). Encoding a batch is one pass into one buffer.
 */

const M = 0x5bd1e995;

/** Kafka's murmur2 of `data` (as `org.apache.kafka.common.utils.Utils.murmur2`). */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
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

// CRC-32C (Castagnoli), slicing-by-8 tables.
const CRC_TABLES: Int32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[0]![n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0]![n]!;
    for (let t = 1; t < 8; t++) {
      c = tables[0]![c & 0xff]! ^ (c >>> 8);
      tables[t]![n] = c;
    }
  }
  return tables;
})();

/** CRC-32C of `data[start, end)`, unsigned. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc =
      t7[a & 0xff]! ^
      t6[(a >>> 8) & 0xff]! ^
      t5[(a >>> 16) & 0xff]! ^
      t4[a >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
  }
  for (; i < end; i++) crc = t0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
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

function writeVarint(buf: Buffer, offset: number, value: number): number {
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
 * and `finish` writes the batch header and CRC.
 */
export class RecordBatchWriter {
  private buf: Buffer;
  private offset = BATCH_HEADER_BYTES;
  private count = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(initialBytes, 256));
  }

  /** Records appended so far. */
  get records(): number {
    return this.count;
  }

  /** Bytes of the batch so far. */
  get byteLength(): number {
    return this.offset;
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
    this.ensure(varintSize(size) + size);
    const buf = this.buf;
    let o = writeVarint(buf, this.offset, size);
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
    this.offset = o;
    this.count = i + 1;
  }

  /** The finished batch (the writer must not be used afterwards). */
  finish(timestamp = Date.now()): Buffer {
    const buf = this.buf;
    const total = this.offset;
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
    buf.writeUInt32BE(crc32c(buf, 21, total), 17);
    return buf.subarray(0, total);
  }

  private ensure(extra: number): void {
    if (this.offset + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.offset + extra));
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }
}
