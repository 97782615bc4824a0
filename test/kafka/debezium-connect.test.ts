/**
 * The Debezium envelope with Connect schemas (KafkaSink `format: 'debezium', schemas: true`),
 * encoder level: a batch holding every column type the PostgreSQL source delivers, its schema
 * and payload checked field by field against what Debezium's PostgreSQL connector declares and
 * writes (default settings), and a schema change showing as a changed schema.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Binary,
  Bool,
  DateDay,
  Decimal,
  Field,
  FixedSizeBinary,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Interval,
  IntervalUnit,
  List,
  TimeUnit,
  Timestamp,
  Utf8,
  type RecordBatch,
} from 'apache-arrow';
import { BatchBuilder, column, formatPosition, type TableDescriptor } from '../../src/sdk/batch.js';
import { debeziumConnectEncoder } from '../../src/connectors/kafka/debezium-connect.js';
import { twosComplementBytes, type ConnectSchema } from '../../src/connectors/kafka/connect-schema.js';
import { KafkaSink } from '../../src/connectors/kafka/index.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import type { OutRecord } from '../../src/connectors/kafka/produce.js';

const everyType: TableDescriptor = {
  table: 'public.every_type',
  primaryKey: ['id'],
  fields: [
    column('id', new Int32(), false, 'integer', 1),
    column('small', new Int16(), true, 'smallint', 2),
    column('big', new Int64(), true, 'bigint', 3),
    column('re', new Float32(), true, 'real', 4),
    column('dbl', new Float64(), true, 'double precision', 5),
    column('flag', new Bool(), false, 'boolean', 6),
    column('txt', new Utf8(), true, 'character varying(20)', 7),
    column('amount', new Decimal(2, 10, 128), true, 'numeric(10,2)', 8),
    column('anynum', new Utf8(), true, 'numeric', 9),
    column('wide', new Utf8(), true, 'numeric(50,3)', 10),
    column('raw', new Binary(), true, 'bytea', 11),
    column('uid', new FixedSizeBinary(16), true, 'uuid', 12),
    column('doc', new Utf8(), true, 'jsonb', 13),
    column('day', new DateDay(), true, 'date', 14),
    column('at', new Timestamp(TimeUnit.MICROSECOND, null), true, 'timestamp without time zone', 15),
    column('at_ms', new Timestamp(TimeUnit.MICROSECOND, null), true, 'timestamp(3) without time zone', 16),
    column('at_tz', new Timestamp(TimeUnit.MICROSECOND, 'UTC'), true, 'timestamp with time zone', 17),
    column('tod', new Utf8(), true, 'time without time zone', 18),
    column('span', new Interval(IntervalUnit.MONTH_DAY_NANO), true, 'interval', 19),
    column('ints', new List(new Field('item', new Int32(), true)), true, 'integer[]', 20),
    column('mood', new Utf8(), true, 'mood', 21),
  ],
};

const UUID = '4f1c2a3b-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const full = [
  7,
  -12,
  9007199254740993n,
  1.5,
  -2.25,
  true,
  'héllo',
  '-123.45',
  '12.3400',
  '123456789012345678901234567890.125',
  new Uint8Array([0, 255, 16]),
  UUID,
  '{"a": [1, 2]}',
  '2024-02-29',
  '2024-01-02T03:04:05.123456Z',
  '2024-01-02T03:04:05.123456Z',
  '2024-01-02T03:04:05.120000Z',
  '13:14:15.5',
  { months: 14, days: 3, nanoseconds: 4_000_005_000n },
  [1, null, -3],
  'happy',
];
const sparse = [8, null, null, null, null, false, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null];

function encode(batch: RecordBatch, tombstones = true): OutRecord[] {
  const out: OutRecord[] = [];
  const stop = debeziumConnectEncoder({ tombstones, prefix: 'shop' }).encode(batch, { push: (m) => void out.push(m.message) }, 0);
  assert.equal(stop, batch.numRows);
  return out;
}

interface Event {
  schema: ConnectSchema;
  payload: {
    before: Record<string, unknown> | null;
    after: Record<string, unknown> | null;
    source: Record<string, unknown>;
    op: string;
    ts_ms: number;
  };
}

const parse = (text: string | Buffer | null): Event => JSON.parse(String(text)) as Event;
const fieldOf = (schema: ConnectSchema, name: string): ConnectSchema => schema.fields!.find((f) => f.field === name)!;
const b64 = (bytes: number[]): string => Buffer.from(bytes).toString('base64');

describe('Debezium envelope with Connect schemas', () => {
  const snapshot = new BatchBuilder(everyType, 'snapshot');
  snapshot.appendRow(full);
  snapshot.appendRow(sparse);
  const records = encode(snapshot.finish());

  test('value: an Envelope struct of before/after (the table Value), source, op, ts_ms', () => {
    const { schema } = parse(records[0]!.value);
    assert.equal(schema.type, 'struct');
    assert.equal(schema.name, 'shop.public.every_type.Envelope');
    assert.equal(schema.optional, false);
    assert.deepEqual(
      schema.fields!.map((f) => [f.field, f.type, f.optional]),
      [
        ['before', 'struct', true],
        ['after', 'struct', true],
        ['source', 'struct', false],
        ['op', 'string', false],
        ['ts_ms', 'int64', true],
      ],
    );
    for (const side of ['before', 'after']) {
      const value = fieldOf(schema, side);
      assert.equal(value.name, 'shop.public.every_type.Value');
      assert.deepEqual(
        value.fields!.map((f) => f.field),
        everyType.fields.map((f) => f.name),
      );
    }
  });

  test('each column type is declared as Debezium declares it (key required, the rest optional)', () => {
    const value = fieldOf(parse(records[0]!.value).schema, 'after');
    const declared = (name: string): Omit<ConnectSchema, 'field'> => {
      const { field: _field, ...rest } = fieldOf(value, name);
      return rest;
    };
    assert.deepEqual(declared('id'), { type: 'int32', optional: false });
    assert.deepEqual(declared('small'), { type: 'int16', optional: true });
    assert.deepEqual(declared('big'), { type: 'int64', optional: true });
    assert.deepEqual(declared('re'), { type: 'float', optional: true });
    assert.deepEqual(declared('dbl'), { type: 'double', optional: true });
    assert.deepEqual(declared('flag'), { type: 'boolean', optional: true });
    assert.deepEqual(declared('txt'), { type: 'string', optional: true });
    assert.deepEqual(declared('amount'), {
      type: 'bytes',
      optional: true,
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: '2', 'connect.decimal.precision': '10' },
    });
    assert.deepEqual(declared('anynum'), {
      type: 'struct',
      fields: [
        { type: 'int32', optional: false, field: 'scale' },
        { type: 'bytes', optional: false, field: 'value' },
      ],
      optional: true,
      name: 'io.debezium.data.VariableScaleDecimal',
      version: 1,
    });
    assert.deepEqual(declared('wide').parameters, { scale: '3', 'connect.decimal.precision': '50' });
    assert.deepEqual(declared('raw'), { type: 'bytes', optional: true });
    assert.deepEqual(declared('uid'), { type: 'string', optional: true, name: 'io.debezium.data.Uuid', version: 1 });
    assert.deepEqual(declared('doc'), { type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1 });
    assert.deepEqual(declared('day'), { type: 'int32', optional: true, name: 'io.debezium.time.Date', version: 1 });
    assert.deepEqual(declared('at'), { type: 'int64', optional: true, name: 'io.debezium.time.MicroTimestamp', version: 1 });
    assert.deepEqual(declared('at_ms'), { type: 'int64', optional: true, name: 'io.debezium.time.Timestamp', version: 1 });
    assert.deepEqual(declared('at_tz'), { type: 'string', optional: true, name: 'io.debezium.time.ZonedTimestamp', version: 1 });
    assert.deepEqual(declared('tod'), { type: 'int64', optional: true, name: 'io.debezium.time.MicroTime', version: 1 });
    assert.deepEqual(declared('span'), { type: 'int64', optional: true, name: 'io.debezium.time.MicroDuration', version: 1 });
    assert.deepEqual(declared('ints'), { type: 'array', items: { type: 'int32', optional: true }, optional: true });
    assert.deepEqual(declared('mood'), { type: 'string', optional: true });
  });

  test('each value is written as its schema says', () => {
    // int64 beyond 2^53 must stay a JSON number with every digit
    const text = String(records[0]!.value);
    assert.match(text, /"big":9007199254740993,/);
    const after = parse(text).payload.after!;
    assert.equal(after['id'], 7);
    assert.equal(after['small'], -12);
    assert.equal(after['re'], 1.5);
    assert.equal(after['dbl'], -2.25);
    assert.equal(after['flag'], true);
    assert.equal(after['txt'], 'héllo');
    // -12345 as Java's BigInteger.toByteArray: 0xCF 0xC7
    assert.equal(after['amount'], b64([0xcf, 0xc7]));
    // 12.3400: scale 4, unscaled 123400 = 0x01 0xE2 0x08
    assert.deepEqual(after['anynum'], { scale: 4, value: b64([0x01, 0xe2, 0x08]) });
    const wide = Buffer.from(after['wide'] as string, 'base64');
    assert.equal(BigInt(`0x${wide.toString('hex')}`), 123456789012345678901234567890125n);
    assert.equal(after['raw'], b64([0, 255, 16]));
    assert.equal(after['uid'], UUID);
    assert.equal(after['doc'], '{"a": [1, 2]}');
    assert.equal(after['day'], Date.UTC(2024, 1, 29) / 86_400_000);
    assert.equal(after['at'], Date.UTC(2024, 0, 2, 3, 4, 5, 123) * 1000 + 456);
    assert.equal(after['at_ms'], Date.UTC(2024, 0, 2, 3, 4, 5, 123));
    assert.equal(after['at_tz'], '2024-01-02T03:04:05.120000Z');
    assert.equal(after['tod'], (13 * 3600 + 14 * 60 + 15) * 1_000_000 + 500_000);
    // 14 months of 365.25/12 days, 3 days, 4.000005 s
    assert.equal(after['span'], 14 * 2_629_800_000_000 + 3 * 86_400_000_000 + 4_000_005);
    assert.deepEqual(after['ints'], [1, null, -3]);
    assert.equal(after['mood'], 'happy');
    const nulls = parse(records[1]!.value).payload.after!;
    for (const f of everyType.fields) if (!['id', 'flag'].includes(f.name)) assert.equal(nulls[f.name], null, f.name);
  });

  test('key: the Key struct and the key columns', () => {
    const key = JSON.parse(String(records[0]!.key)) as { schema: ConnectSchema; payload: unknown };
    assert.deepEqual(key, {
      schema: {
        type: 'struct',
        fields: [{ type: 'int32', optional: false, field: 'id' }],
        optional: false,
        name: 'shop.public.every_type.Key',
      },
      payload: { id: 7 },
    });
  });

  test('changes: op, before of updates and deletes, tombstone, source position', () => {
    const changes = new BatchBuilder(everyType, 'changes');
    changes.appendChange('insert', full, formatPosition(1));
    changes.appendChange('update', full, formatPosition(2));
    changes.appendChange('delete', [7, ...sparse.slice(1).map(() => null)], formatPosition(3));
    const out = encode(changes.finish());
    assert.equal(out.length, 4);
    const [c, u, d] = out.map((r) => (r.value === null ? null : parse(r.value)));
    assert.equal(c!.payload.op, 'c');
    assert.equal(c!.payload.before, null);
    assert.equal(u!.payload.op, 'u');
    assert.deepEqual(u!.payload.before, Object.fromEntries(everyType.fields.map((f) => [f.name, f.name === 'id' ? 7 : null])));
    assert.equal(u!.payload.source['position'], formatPosition(2));
    assert.equal(d!.payload.op, 'd');
    assert.equal(d!.payload.after, null);
    assert.equal(d!.payload.before!['id'], 7);
    assert.equal(out[3]!.value, null, 'tombstone after the delete');
    assert.equal(out[3]!.key, out[2]!.key);
    // change batches mark every column nullable: the declared schema stays the snapshot's
    assert.deepEqual(c!.schema, parse(records[0]!.value).schema);
  });

  test('a schema change in the stream is a changed schema in the next record', () => {
    const before: TableDescriptor = {
      table: 'public.regions',
      primaryKey: ['id'],
      fields: [
        column('id', new Int32(), false, 'integer', 1),
        column('name', new Utf8(), true, 'text', 2),
        column('pop', new Int32(), true, 'integer', 3),
      ],
    };
    const after: TableDescriptor = {
      ...before,
      fields: [
        column('id', new Int32(), false, 'integer', 1),
        column('label', new Utf8(), true, 'text', 2),
        column('pop', new Int64(), true, 'bigint', 3),
      ],
    };
    const encoder = debeziumConnectEncoder({ tombstones: false, prefix: 'refstream' });
    const schemas: ConnectSchema[] = [];
    for (const [descriptor, pop] of [
      [before, 5],
      [after, 9007199254740993n],
    ] as const) {
      const b = new BatchBuilder(descriptor, 'changes');
      b.appendChange('insert', [1, 'x', pop], formatPosition(1));
      encoder.encode(b.finish(), { push: (m) => void schemas.push(fieldOf(parse(m.message.value).schema, 'after')) }, 0);
    }
    assert.deepEqual(
      schemas.map((s) => s.fields!.map((f) => `${f.field}:${f.type}`)),
      [
        ['id:int32', 'name:string', 'pop:int32'],
        ['id:int32', 'label:string', 'pop:int64'],
      ],
    );
  });

  test('decimal bytes are the two’s complement Java’s BigInteger writes', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 130n), max: 1n << 130n }), (v) => {
        const bytes = twosComplementBytes(v);
        // sign-extended big-endian read gives the value back
        const unsigned = BigInt(`0x${bytes.toString('hex')}`);
        const signed = bytes[0]! & 0x80 ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
        assert.equal(signed, v);
        // fewest bytes: the first byte is not a redundant sign byte
        if (bytes.length > 1) assert.ok(!((bytes[0] === 0 && !(bytes[1]! & 0x80)) || (bytes[0] === 0xff && bytes[1]! & 0x80)));
      }),
    );
  });

  test('schemas are refused with a format other than debezium, a name prefix without schemas', () => {
    for (const format of ['json', 'arrow'] as const) {
      assert.throws(
        () => new KafkaSink({ brokers: ['localhost:9092'], topic: 't', format, schemas: true }),
        (e: unknown) => ConnectorError.is(e) && e.code === 'CONFIG_INVALID' && /debezium format only/.test(e.message),
      );
    }
    assert.throws(
      () => new KafkaSink({ brokers: ['localhost:9092'], topic: 't', format: 'debezium', schemaNamePrefix: 'shop' }),
      (e: unknown) => ConnectorError.is(e) && e.code === 'CONFIG_INVALID' && /only schemas: true writes/.test(e.message),
    );
    assert.doesNotThrow(
      () => new KafkaSink({ brokers: ['localhost:9092'], topic: 't', format: 'debezium', schemas: true, schemaNamePrefix: 'shop' }),
    );
  });
});
