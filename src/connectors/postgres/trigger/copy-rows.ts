/**
 * Rows of a `COPY … TO STDOUT (FORMAT binary)` read from the protocol bytes a {@link CopyOut}
 * passes on: one CopyData message per row, the file header in the first, the trailer in the
 * last. A row split between socket chunks is joined once it is complete (a large value is
 * copied once, not once per chunk).
 */
import { definite } from '../../../sdk/errors.js';
import { MESSAGE } from '../copy-out.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Why {@link CopyRows.next} returned. */
export type RowStep = 'row' | 'need-more' | 'end';

export class CopyRows {
  /** The buffer holding the current row; valid until the next call of {@link next}. */
  buf: Buffer = Buffer.alloc(0);
  /** Start of each field's value in {@link buf} (after its length), and its length (-1: NULL). */
  readonly offsets: number[];
  readonly lengths: number[];
  private pending: Buffer | null = null;
  private pos = 0;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  /** Where the current row's message starts in `pending` (for {@link rewind}). */
  private rowStart = -1;
  /** The current row's message also carried the file header. */
  private rowAfterHeader = false;
  private headerRead = false;
  private trailerRead = false;
  /** True once CopyDone was read. */
  ended = false;

  constructor(
    private readonly fields: number,
    private readonly table: string,
  ) {
    this.offsets = new Array<number>(fields).fill(0);
    this.lengths = new Array<number>(fields).fill(0);
  }

  feed(chunk: Buffer): void {
    this.queue.push(chunk);
    this.queued += chunk.length;
  }

  /** Bytes held, read or not (for memory bounds). */
  get bufferedBytes(): number {
    return (this.pending ? this.pending.length - this.pos : 0) + this.queued;
  }

  /** Makes at least `n` bytes available from `pos`; false when not buffered yet. */
  private ensure(n: number): boolean {
    const have = this.pending ? this.pending.length - this.pos : 0;
    if (have >= n) return true;
    if (have + this.queued < n) return false;
    const pieces: Buffer[] = have > 0 ? [this.pending!.subarray(this.pos)] : [];
    let got = have;
    // take whole chunks while they fit; the last one may be split
    while (got < n) {
      const head = this.queue[0]!;
      const want = n - got;
      if (head.length <= want || pieces.length === 0) {
        pieces.push(head);
        got += head.length;
        this.queue.shift();
        this.queued -= head.length;
      } else {
        pieces.push(head.subarray(0, want));
        this.queue[0] = head.subarray(want);
        this.queued -= want;
        got += want;
      }
    }
    this.pending = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    this.pos = 0;
    return true;
  }

  /** Makes the next {@link next} return the current row again. */
  rewind(): void {
    if (this.rowStart < 0) throw new Error('CopyRows.rewind without a current row');
    this.pos = this.rowStart;
    this.rowStart = -1;
    if (this.rowAfterHeader) this.headerRead = false;
  }

  /** Moves to the next row ('row'), or reports that more bytes are needed, or that the COPY ended. */
  next(): RowStep {
    this.rowStart = -1;
    for (;;) {
      if (this.ended) return 'end';
      if (!this.ensure(5)) return 'need-more';
      let buf = this.pending!;
      const code = buf[this.pos]!;
      const length = buf.readUInt32BE(this.pos + 1);
      if (!this.ensure(1 + length)) return 'need-more';
      buf = this.pending!;
      const start = this.pos;
      let p = this.pos + 5;
      const end = this.pos + 1 + length;
      this.pos = end;
      if (code !== MESSAGE.copyData) {
        if (code !== MESSAGE.copyDone) continue; // CopyOutResponse, notices
        if (!this.trailerRead)
          throw definite('INTERNAL', `COPY of the changes of ${this.table} ended without its trailer`, { table: this.table });
        this.ended = true;
        return 'end';
      }
      let afterHeader = false;
      if (!this.headerRead) {
        afterHeader = true;
        if (p + 19 > end || !buf.subarray(p, p + 11).equals(SIGNATURE)) {
          throw definite('INTERNAL', 'COPY output does not start with the binary signature', { table: this.table });
        }
        p += 19 + buf.readUInt32BE(p + 15);
        this.headerRead = true;
        if (p === end) continue;
      }
      const count = buf.readInt16BE(p);
      p += 2;
      if (count === -1) {
        this.trailerRead = true;
        continue;
      }
      if (count !== this.fields) throw definite('INTERNAL', `COPY row has ${count} fields, expected ${this.fields}`, { table: this.table });
      for (let f = 0; f < count; f++) {
        const len = buf.readInt32BE(p);
        p += 4;
        this.offsets[f] = p;
        this.lengths[f] = len;
        if (len > 0) p += len;
      }
      if (p !== end) throw definite('INTERNAL', `COPY row of ${this.table} does not fill its CopyData message`, { table: this.table });
      this.buf = buf;
      this.rowStart = start;
      this.rowAfterHeader = afterHeader;
      return 'row';
    }
  }
}
