/**
 * The EXPORT CSV reader hands on the same rows however the input is cut into chunks (inside
 * quoted fields, escapes, CR LF row ends), and the snapshot's byte-level watermark maximum
 * agrees with the text comparison it replaces.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CsvFormatError, CsvRowReader } from '../../src/connectors/exasol/csv-reader.js';
import { compareWatermarks, keyValueText } from '../../src/connectors/exasol/table-shape.js';
import type { ExasolType } from '../../src/connectors/exasol/types.js';
import { WatermarkMax } from '../../src/connectors/exasol/watermark-max.js';

/** Exasol's CSV: NULL is an empty field, a value with a separator, quote or line break is quoted with `""` escapes. */
function encode(rows: (string | null)[][], rowEnd: string): Buffer {
  const field = (v: string | null) => (v === null ? '' : /[",\r\n]/.test(v) || v === '' ? `"${v.replace(/"/g, '""')}"` : v);
  return Buffer.from(rows.map((r) => r.map(field).join(',') + rowEnd).join(''), 'utf8');
}

function read(parts: Buffer[], fields: number): (string | null)[][] {
  const rows: (string | null)[][] = [];
  const reader = new CsvRowReader(fields, (buf, _view, starts, ends, nulls) => {
    const row: (string | null)[] = [];
    for (let f = 0; f < fields; f++) row.push(nulls[f] === 1 ? null : Buffer.from(buf.subarray(starts[f]!, ends[f]!)).toString('utf8'));
    rows.push(row);
  });
  for (const part of parts) reader.push(part);
  reader.end();
  assert.equal(reader.rows, rows.length);
  return rows;
}

function cut(bytes: Buffer, points: number[]): Buffer[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const p of sorted) {
    parts.push(Buffer.from(bytes.subarray(last, p)));
    last = p;
  }
  parts.push(Buffer.from(bytes.subarray(last)));
  return parts;
}

describe('Exasol CSV reader', () => {
  const value = fc.oneof(
    fc.constant(null),
    fc.string({ unit: fc.constantFrom('a', 'é', '😀', ',', '"', '\n', '\r', ' ', '7'), minLength: 1, maxLength: 12 }),
  );

  it('reads the same rows whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 5 })
          .chain((n) => fc.tuple(fc.constant(n), fc.array(fc.array(value, { minLength: n, maxLength: n }), { maxLength: 30 }))),
        fc.constantFrom('\n', '\r\n'),
        fc.array(fc.nat(), { maxLength: 25 }),
        ([fields, rows], rowEnd, points) => {
          const bytes = encode(rows, rowEnd);
          assert.deepEqual(read(cut(bytes, points), fields), rows);
          // one byte at a time
          assert.deepEqual(
            read(
              [...bytes].map((b) => Buffer.from([b])),
              fields,
            ),
            rows,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes a last row without its line feed, and rejects rows of the wrong width', () => {
    assert.deepEqual(read([Buffer.from('1,"a""b"\n2,')], 2), [
      ['1', 'a"b'],
      ['2', null],
    ]);
    assert.throws(() => read([Buffer.from('1,2,3\n')], 2), CsvFormatError);
    assert.throws(() => read([Buffer.from('1\n')], 2), CsvFormatError);
    assert.throws(() => read([Buffer.from('1,"open\n')], 2), CsvFormatError);
  });
});

describe('watermark maximum from CSV bytes', () => {
  const digitString = (digit: fc.Arbitrary<number>, max: number) => fc.array(digit, { maxLength: max }).map((d) => d.join(''));
  /** Decimal texts; with `close`, few digits from 0–2, so equal integer parts and fractions that are prefixes of others are common. */
  const decimal = (scale: number, close: boolean) => {
    const digit = close ? fc.integer({ min: 0, max: 2 }) : fc.integer({ min: 0, max: 9 });
    return fc
      .tuple(fc.boolean(), digitString(digit, close ? 2 : 20), digitString(digit, scale))
      .map(([negative, whole, fraction]) => `${negative ? '-' : ''}${whole || '0'}${fraction ? `.${fraction}` : ''}`);
  };
  const cases: [label: string, type: ExasolType, values: fc.Arbitrary<string>][] = [
    ['DECIMAL(36,0)', { kind: 'DECIMAL', precision: 36, scale: 0 }, fc.oneof(decimal(0, true), decimal(0, false))],
    ['DECIMAL(36,4), close values', { kind: 'DECIMAL', precision: 36, scale: 4 }, decimal(4, true)],
    ['DECIMAL(36,4)', { kind: 'DECIMAL', precision: 36, scale: 4 }, decimal(4, false)],
    [
      'DATE',
      { kind: 'DATE' },
      fc.date({ min: new Date('0001-01-01'), max: new Date('9999-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
    ],
    [
      'TIMESTAMP(6)',
      { kind: 'TIMESTAMP', precision: 6, localTimeZone: false },
      fc
        .date({ min: new Date('0001-01-01'), max: new Date('9999-12-31'), noInvalidDate: true })
        .map((d) => `${d.toISOString().slice(0, 19).replace('T', ' ')}.${String(d.getTime() % 1000).padStart(3, '0')}123`),
    ],
  ];
  for (const [label, type, values] of cases) {
    it(`equals the largest value by compareWatermarks: ${label}`, () => {
      fc.assert(
        fc.property(fc.array(values, { maxLength: 40 }), (texts) => {
          const max = new WatermarkMax(type);
          const buf = Buffer.from(`#${texts.join('|')}`, 'latin1');
          let at = 1;
          for (const t of texts) {
            max.offer(buf, at, at + t.length);
            at += t.length + 1;
          }
          const expected = texts.reduce<string | null>((m, t) => (m === null || compareWatermarks(type, t, m) > 0 ? t : m), null);
          assert.equal(max.result(), expected === null ? null : keyValueText(type, expected));
        }),
        { numRuns: 300 },
      );
    });
  }
});
