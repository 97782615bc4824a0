/**
 * A streaming reader of the CSV Exasol's EXPORT writes (`,` separator, `"` delimiter with
 * `""` escapes, LF rows, empty unquoted field = NULL). It finds the fields of each complete
 * row and hands their byte ranges to one row handler, which appends them to Arrow builders:
 * no string or object per row on the common path, and no copy of the input except for the
 * few bytes of a row split between two chunks.
 */

/**
 * Receives one complete row: field `f` is `buf[starts[f], ends[f])` (`view` is a DataView of
 * `buf`), or NULL where `nulls[f]` is 1. Quoted fields are already unescaped (in place). The
 * arrays are reused for the next row.
 */
export type RowHandler = (buf: Uint8Array, view: DataView, starts: Int32Array, ends: Int32Array, nulls: Uint8Array) => void;

/** Thrown for malformed CSV (wrong field count, stray quote). */
export class CsvFormatError extends Error {}

const COMMA = 0x2c;
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Reads CSV bytes chunk by chunk and hands each complete row to `onRow`. */
export class CsvRowReader {
  /** The start of a row that the last chunks ended inside (pieces, joined once the row can end). */
  private carry: Buffer[] = [];
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private readonly nulls: Uint8Array;
  /** Per field: the quoted field had `""` escapes. */
  private readonly escaped: Uint8Array;
  rows = 0;

  constructor(
    private readonly fields: number,
    private readonly onRow: RowHandler,
  ) {
    this.starts = new Int32Array(fields);
    this.ends = new Int32Array(fields);
    this.nulls = new Uint8Array(fields);
    this.escaped = new Uint8Array(fields);
  }

  /** Feeds bytes; complete rows are handed on, an incomplete tail is kept for the next call. */
  push(chunk: Buffer): void {
    let pos = this.carry.length === 0 ? 0 : this.completeCarried(chunk);
    if (pos < 0) return;
    const len = chunk.length;
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (pos < len) {
      const next = this.scanRow(chunk, pos);
      if (next < 0) break;
      this.dispatch(chunk, view);
      pos = next;
    }
    if (pos < len) this.carry.push(Buffer.from(chunk.subarray(pos)));
  }

  /**
   * Completes the carried row with the first bytes of `chunk`, up to the first row end that
   * ends it (a line feed inside a quoted field does not). Returns where the rest of `chunk`
   * starts, or -1 when the whole chunk belongs to the carried row.
   */
  private completeCarried(chunk: Buffer): number {
    const carried = this.carry.length === 1 ? this.carry[0]! : Buffer.concat(this.carry);
    let take = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, take);
      if (lf < 0) {
        this.carry = [carried, chunk];
        return -1;
      }
      take = lf + 1;
      const joined = Buffer.concat([carried, chunk.subarray(0, take)]);
      const next = this.scanRow(joined, 0);
      if (next >= 0) {
        this.carry = [];
        this.dispatch(joined, new DataView(joined.buffer, joined.byteOffset, joined.byteLength));
        return next - carried.length;
      }
    }
  }

  /** Ends the input: a last row without a trailing newline is handed on. */
  end(): void {
    if (this.carry.length === 0) return;
    const buf = Buffer.concat([...this.carry, Buffer.from([LF])]);
    this.carry = [];
    if (this.scanRow(buf, 0) < 0) throw new CsvFormatError('the CSV ended inside a quoted field');
    this.dispatch(buf, new DataView(buf.buffer, buf.byteOffset, buf.byteLength));
  }

  /** Records field ranges of the row at `pos`; returns the index after it, or -1 when incomplete. */
  private scanRow(buf: Buffer, pos: number): number {
    const n = this.fields;
    const len = buf.length;
    let field = 0;
    for (;;) {
      if (field >= n) throw new CsvFormatError(`a CSV row has more than ${n} fields`);
      if (pos < len && buf[pos] === QUOTE) {
        let j = pos + 1;
        let escaped = false;
        for (;;) {
          const q = buf.indexOf(QUOTE, j);
          if (q < 0 || q + 1 >= len) return -1;
          if (buf[q + 1] === QUOTE) {
            escaped = true;
            j = q + 2;
            continue;
          }
          this.starts[field] = pos + 1;
          this.ends[field] = q;
          this.nulls[field] = 0;
          this.escaped[field] = escaped ? 1 : 0;
          pos = q + 1;
          break;
        }
      } else {
        let k = pos;
        while (k < len) {
          const c = buf[k]!;
          if (c === COMMA || c === LF) break;
          k++;
        }
        if (k >= len) return -1;
        let end = k;
        if (end > pos && buf[end - 1] === CR && buf[k] === LF) end--;
        this.starts[field] = pos;
        this.ends[field] = end;
        this.nulls[field] = end === pos ? 1 : 0;
        this.escaped[field] = 0;
        pos = k;
      }
      if (pos >= len) return -1;
      const sep = buf[pos]!;
      field++;
      if (sep === COMMA) {
        pos++;
        continue;
      }
      if (sep === CR && pos + 1 < len && buf[pos + 1] === LF) pos++;
      else if (sep === CR) return -1;
      if (buf[pos] !== LF) throw new CsvFormatError('a quoted CSV field is followed by neither a separator nor a row end');
      if (field !== n) throw new CsvFormatError(`a CSV row has ${field} fields, expected ${n}`);
      return pos + 1;
    }
  }

  private dispatch(buf: Buffer, view: DataView): void {
    for (let f = 0; f < this.fields; f++) if (this.escaped[f] === 1) this.unescape(buf, f);
    this.rows++;
    this.onRow(buf, view, this.starts, this.ends, this.nulls);
  }

  /** Turns `""` into `"` within field `f`, in place (the input bytes are this reader's to change). */
  private unescape(buf: Buffer, f: number): void {
    const start = this.starts[f]!;
    const end = this.ends[f]!;
    let o = start;
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      buf[o++] = c;
      if (c === QUOTE) i++;
    }
    this.ends[f] = o;
  }
}
