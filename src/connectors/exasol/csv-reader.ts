/**
 * A streaming reader of the CSV Exasol's EXPORT writes (`,` separator, `"` delimiter with
 * `""` escapes, LF rows, empty unquoted field = NULL). It finds the fields of a complete row
 * and hands their byte ranges to per-column handlers, which append them to Arrow builders:
 * no string or object per row on the common path.
 */

/** Receives one field of the current row: bytes `[start, end)` of `buf`, or `null`. */
export type FieldHandler = (buf: Uint8Array, start: number, end: number, isNull: boolean) => void;

/** Thrown for malformed CSV (wrong field count, stray quote). */
export class CsvFormatError extends Error {}

const COMMA = 0x2c;
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Reads CSV bytes chunk by chunk and dispatches the fields of each complete row to its handlers. */
export class CsvRowReader {
  private carry: Buffer | null = null;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  /** 0 plain, 1 NULL, 2 quoted with `""` escapes */
  private readonly flags: Uint8Array;
  private scratch = Buffer.alloc(4096);
  rows = 0;

  constructor(
    private readonly handlers: readonly FieldHandler[],
    private readonly onRow: () => void,
  ) {
    const n = handlers.length;
    this.starts = new Int32Array(n);
    this.ends = new Int32Array(n);
    this.flags = new Uint8Array(n);
  }

  /** Feeds bytes; complete rows are dispatched, an incomplete tail is kept for the next call. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry !== null) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      const next = this.scanRow(buf, pos);
      if (next < 0) break;
      this.dispatch(buf);
      pos = next;
    }
    if (pos < len) this.carry = Buffer.from(buf.subarray(pos));
  }

  /** Ends the input: a last row without a trailing newline is dispatched. */
  end(): void {
    if (this.carry === null || this.carry.length === 0) return;
    const buf = Buffer.concat([this.carry, Buffer.from([LF])]);
    this.carry = null;
    if (this.scanRow(buf, 0) < 0) throw new CsvFormatError('the CSV ended inside a quoted field');
    this.dispatch(buf);
  }

  /** Records field ranges of the row at `pos`; returns the index after it, or -1 when incomplete. */
  private scanRow(buf: Buffer, pos: number): number {
    const n = this.handlers.length;
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
          this.flags[field] = escaped ? 2 : 0;
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
        this.flags[field] = end === pos ? 1 : 0;
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

  private dispatch(buf: Buffer): void {
    const n = this.handlers.length;
    for (let f = 0; f < n; f++) {
      const flag = this.flags[f]!;
      if (flag === 1) this.handlers[f]!(buf, 0, 0, true);
      else if (flag === 0) this.handlers[f]!(buf, this.starts[f]!, this.ends[f]!, false);
      else {
        const length = this.unescape(buf, this.starts[f]!, this.ends[f]!);
        this.handlers[f]!(this.scratch, 0, length, false);
      }
    }
    this.rows++;
    this.onRow();
  }

  /** Copies a quoted field into the scratch buffer with `""` turned into `"`. */
  private unescape(buf: Buffer, start: number, end: number): number {
    if (this.scratch.length < end - start) this.scratch = Buffer.alloc(Math.max(end - start, this.scratch.length * 2));
    let o = 0;
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      this.scratch[o++] = c;
      if (c === QUOTE) i++;
    }
    return o;
  }
}
