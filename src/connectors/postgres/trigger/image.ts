/**
 * Row images as the capture trigger stores them, `record_send(row)`: a column count, then per
 * column its type oid, length and value in binary send format — the format the logical stream
 * (pgoutput with binary values) and COPY binary carry, so the same codecs decode them into the
 * same Arrow values.
 *
 * An image holds every column of the table in attribute order, generated columns included
 * (the stream and the snapshot leave those out, and so does this decoder).
 */
import type { BatchBuilder } from '../../../sdk/batch.js';
import type { ColumnBuilder } from '../../../sdk/builders.js';
import type { ColumnCodec } from '../types.js';

/** One column of the table's row type as images carry it. */
export interface ImageColumn {
  name: string;
  typeOid: number;
  /** Index among the delivered columns, or -1 for a column that is not delivered (generated). */
  index: number;
  /** The attribute it holds (`pg_attribute.attnum`). */
  attnum: number;
}

/** The type oid of each column of the image at `buf[off…]`. */
export function imageTypes(buf: Buffer, off: number, len: number): number[] {
  const end = off + len;
  const count = buf.readInt32BE(off);
  const oids: number[] = [];
  let p = off + 4;
  for (let i = 0; i < count && p + 8 <= end; i++) {
    oids.push(buf.readUInt32BE(p));
    const vlen = buf.readInt32BE(p + 4);
    p += 8 + (vlen > 0 ? vlen : 0);
  }
  return oids;
}

/** What the change row is delivered as. */
export type ImageRowType = 'insert' | 'update' | 'delete' | 'truncate';

const CHANGE_INDEX = { insert: 0, update: 1, delete: 2, truncate: 3 } as const;

/** Why an image does not fit the columns it is decoded with. */
export interface ImageMismatch {
  /** Columns in the image. */
  count: number;
  /** First column (by image position) whose type differs or whose key value is null, or -1. */
  column: number;
  /** Its type oid in the image. */
  typeOid: number;
  /** The column is a key column and its value is null. */
  nullKey: boolean;
}

/** Decodes images into the rows of a change batch. */
export class ImageWriter {
  private readonly isKey: boolean[];

  constructor(
    readonly columns: readonly ImageColumn[],
    private readonly codecs: readonly ColumnCodec[],
    keyIndexes: readonly number[],
  ) {
    this.isKey = codecs.map((_, i) => keyIndexes.includes(i));
  }

  /** `null` when the image at `buf[off…]` has exactly these columns and types, else what differs. */
  check(buf: Buffer, off: number, len: number): ImageMismatch | null {
    const end = off + len;
    const count = buf.readInt32BE(off);
    const cols = this.columns;
    if (count !== cols.length) return { count, column: -1, typeOid: 0, nullKey: false };
    let p = off + 4;
    for (let i = 0; i < count; i++) {
      if (p + 8 > end) return { count, column: i, typeOid: 0, nullKey: false };
      const oid = buf.readUInt32BE(p);
      const vlen = buf.readInt32BE(p + 4);
      if (oid !== cols[i]!.typeOid) return { count, column: i, typeOid: oid, nullKey: false };
      const c = cols[i]!.index;
      if (vlen < 0 && c >= 0 && this.isKey[c]) return { count, column: i, typeOid: oid, nullKey: true };
      p += 8 + (vlen > 0 ? vlen : 0);
    }
    return null;
  }

  /**
   * Appends one change row: the image's values (for a delete only the key columns), then
   * `_change_type` and `_position`. `off` < 0 (truncate): every table column null. The image
   * must have passed {@link check}.
   */
  write(builder: BatchBuilder, buf: Buffer, off: number, type: ImageRowType, position: string): void {
    const cols = builder.columns;
    const n = this.codecs.length;
    if (off < 0) {
      for (let c = 0; c < n; c++) cols[c]!.appendNull();
    } else {
      const keysOnly = type === 'delete';
      const image = this.columns;
      const count = buf.readInt32BE(off);
      let p = off + 4;
      for (let i = 0; i < count; i++) {
        const vlen = buf.readInt32BE(p + 4);
        p += 8;
        const c = image[i]!.index;
        if (c >= 0) {
          const col = cols[c]!;
          if (vlen < 0) col.appendNull();
          else if (keysOnly && !this.isKey[c]) col.appendNull();
          else this.codecs[c]!.decodeBinary(buf, p, vlen, col as ColumnBuilder);
        }
        if (vlen > 0) p += vlen;
      }
    }
    (cols[n] as unknown as { appendIndex(i: number): void }).appendIndex(CHANGE_INDEX[type]);
    (cols[n + 1] as unknown as { appendString(s: string): void }).appendString(position);
    builder.endRow();
  }
}
