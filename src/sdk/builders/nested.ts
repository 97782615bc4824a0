/**
 * Columns over other columns: a dictionary over a fixed value list, and lists over a child builder.
 */
import { Dictionary, Field, Int8, List, Utf8, makeData, vectorFromArray, type Data } from 'apache-arrow';
import { grow, ColumnBuilder } from './column-builder.js';

/** Dictionary<Int8, Utf8> over a fixed list of strings (used for `_change_type`). */
export class FixedDictionaryColumnBuilder extends ColumnBuilder<Dictionary<Utf8, Int8>> {
  private indices = new Int8Array(1024);
  private readonly lookup: Map<string, number>;
  private readonly dictionaryVector;
  constructor(
    readonly values: readonly string[],
    id = 0,
  ) {
    super(new Dictionary(new Utf8(), new Int8(), id));
    this.lookup = new Map(values.map((v, i) => [v, i]));
    this.dictionaryVector = vectorFromArray([...values], new Utf8());
  }
  get byteLength(): number {
    return this.length + this.validityBytes();
  }
  protected pushEmpty(): void {
    this.indices = grow(this.indices, this.length + 1, (n) => new Int8Array(n));
  }
  /** Appends the value at `index` of the dictionary. */
  appendIndex(index: number): void {
    const i = this.length;
    if (i >= this.indices.length) this.indices = grow(this.indices, i + 1, (n) => new Int8Array(n));
    this.indices[i] = index;
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    const index = this.lookup.get(String(value));
    if (index === undefined) throw new RangeError(`${JSON.stringify(value)} is not one of ${this.values.join(', ')}`);
    this.appendIndex(index);
  }
  finish(): Data<Dictionary<Utf8, Int8>> {
    const data = this.indices.slice(0, this.length);
    const v = this.takeValidity();
    this.indices = new Int8Array(1024);
    return makeData({ type: this.type, data, dictionary: this.dictionaryVector, ...v });
  }
}

/** List<child>: offsets plus a child builder. Accepts arrays of values the child accepts. */
export class ListColumnBuilder extends ColumnBuilder<List> {
  private offsets = new Int32Array(1025);
  constructor(
    readonly child: ColumnBuilder,
    childField: Field = new Field('item', child.type, true),
  ) {
    super(new List(childField));
  }
  get byteLength(): number {
    return this.length * 4 + this.child.byteLength + this.validityBytes();
  }
  protected pushEmpty(): void {
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2, (n) => new Int32Array(n));
    this.offsets[this.length + 1] = this.child.length;
  }
  /** Closes the current list after its items were appended to `child` directly. */
  endList(): void {
    const i = this.length;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2, (n) => new Int32Array(n));
    this.offsets[i + 1] = this.child.length;
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    for (const item of value as Iterable<unknown>) this.child.appendValue(item);
    this.endList();
  }
  finish(): Data<List> {
    const valueOffsets = this.offsets.slice(0, this.length + 1);
    const child = this.child.finish();
    const v = this.takeValidity();
    this.offsets = new Int32Array(1025);
    return makeData({ type: this.type, valueOffsets, child, ...v });
  }
}
