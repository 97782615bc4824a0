/**
 * SCH: batch schemas follow the batch conventions (docs/concepts.md#batch-conventions): refstream metadata, the test table's columns and
 * Arrow types, the change columns, and one stable schema per stream.
 */
import { TimeUnit, type DataType, type Field, type Schema } from 'apache-arrow';
import { CHANGE_TYPE_COLUMN, CHANGE_TYPES, METADATA, POSITION_COLUMN, sameTableSchema, tableFields } from '../../src/sdk/batch.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { check, CheckFailure, describeError, fail } from '../assert.js';
import type { Consumer, TableWriter } from '../drive.js';
import { makeRow, makeRows, TEST_COLUMNS } from '../test-table.js';
import type { CheckContext, Migration } from '../types.js';
import { batchReaders, toJsonValue } from '../../src/sdk/values.js';
import { catchUp, consumerFor, defineCheck, writerFor } from './helpers.js';

/** Name of the column SCH-06 and SCH-06N add. */
const ADDED_COLUMN = 'extra';

/** Snapshot of two rows and one change; then the column is added and a row inserted. */
async function addColumnScenario(ctx: CheckContext): Promise<{ consumer: Consumer; before: Field[]; writer: TableWriter }> {
  const writer = writerFor(ctx);
  await writer.insert(makeRows(2));
  const consumer = await consumerFor(ctx);
  await consumer.drainSnapshot();
  await writer.insert([makeRow(5)]);
  await catchUp(consumer, writer, ctx);
  const before = tableFields(consumer.batches[0]!.batch.schema);
  await ctx.harness.addColumn!(ADDED_COLUMN);
  await writer.insert([makeRow(10)]);
  return { consumer, before, writer };
}

/**
 * Snapshot of two rows and one change; then the harness migrates the table and inserts row 10.
 * Returns the table columns before, and those of the change batch carrying row 10 (polled
 * straight from the source: the rows no longer have the standard columns).
 */
async function migrationScenario(
  ctx: CheckContext,
  change: Migration,
): Promise<{ before: Field[]; after: Field[]; row: Record<string, unknown> }> {
  const writer = writerFor(ctx);
  await writer.insert(makeRows(2));
  const consumer = await consumerFor(ctx);
  await consumer.drainSnapshot();
  await writer.insert([makeRow(5)]);
  await catchUp(consumer, writer, ctx);
  const before = tableFields(consumer.batches[0]!.batch.schema);
  await ctx.harness.migrate!(change, 10n);
  const deadline = Date.now() + ctx.settings.convergeMs;
  while (Date.now() < deadline) {
    const batch = await consumer.source.pollChanges();
    if (batch === null) continue;
    const fields = tableFields(batch.schema);
    const readers = batchReaders(batch);
    const id = fields.findIndex((f) => f.name === 'id');
    for (let i = 0; i < batch.numRows; i++) {
      if (String(readers[id]!(i)) !== '10') continue;
      const row = Object.fromEntries(fields.map((f, c) => [f.name, toJsonValue(f, readers[c]!(i))]));
      return { before, after: fields, row };
    }
  }
  return fail(`the row inserted after ${change} did not arrive within ${ctx.settings.convergeMs} ms`);
}

/** The columns as `name Type` for messages. */
function columnList(fields: Field[]): string {
  return fields.map((f) => `${f.name} ${String(f.type)}`).join(', ');
}

/** Reads a snapshot of a few rows in small batches, then (if possible) a few changes of each type. */
async function exercise(ctx: CheckContext): Promise<Consumer> {
  const writer = writerFor(ctx);
  await writer.insert(makeRows(6));
  const consumer = await consumerFor(ctx, { batchRows: 2 });
  await consumer.drainSnapshot();
  if (ctx.capabilities.changes !== 'none') {
    await writer.insert(makeRows(3, 50));
    await writer.update([makeRow(1, 1), makeRow(50, 1)]);
    await writer.delete([2n]);
    await catchUp(consumer, writer, ctx);
  }
  return consumer;
}

type AnyType = DataType & {
  bitWidth?: number;
  isSigned?: boolean;
  precision?: number;
  scale?: number;
  unit?: number;
  timezone?: string | null;
};

const UTC_NAMES = new Set(['UTC', 'Etc/UTC', '+00:00', 'Z', 'utc']);

/** What is wrong with a table column's Arrow type, or undefined. */
function typeProblem(field: Field): string | undefined {
  const t = field.type as AnyType;
  const got = `${field.name}: ${String(field.type)}`;
  switch (field.name) {
    case 'id':
      return t.typeId === 2 && t.bitWidth === 64 && t.isSigned ? undefined : `${got}, expected Int64`;
    case 'name':
    case 'note':
      return t.typeId === 5 ? undefined : `${got}, expected Utf8`;
    case 'amount':
      return t.typeId === 7 && t.precision === 12 && t.scale === 2 ? undefined : `${got}, expected Decimal128(12, 2)`;
    case 'updated_at':
      return t.typeId === 10 && (t.unit === TimeUnit.MICROSECOND || t.unit === TimeUnit.NANOSECOND) && UTC_NAMES.has(t.timezone ?? '')
        ? undefined
        : `${got}, expected Timestamp(µs or ns, UTC)`;
    case 'active':
      return t.typeId === 6 ? undefined : `${got}, expected Bool`;
  }
  return `unexpected column ${field.name}`;
}

/** A text that differs whenever names, types, nullability or any metadata differ. */
function schemaSignature(schema: Schema): string {
  const fields = schema.fields.map((f) => `${f.name}:${String(f.type)}:${f.nullable}:${JSON.stringify([...f.metadata].sort())}`);
  return `${fields.join(',')}|${JSON.stringify([...schema.metadata].sort())}`;
}

export const schemaChecks = [
  defineCheck({
    id: 'SCH-01',
    level: 'MUST',
    category: 'schema',
    rule: 'Every batch carries `refstream.table`, `refstream.primary_key` (`["id"]`) and `refstream.kind` matching the poll that returned it.',
    method: 'Inspects the schema metadata of every snapshot and change batch of a short run.',
    async run(ctx) {
      const consumer = await exercise(ctx);
      check(consumer.batches.length > 0, 'no batch was delivered');
      const tables = new Set(consumer.batches.map((b) => b.table));
      check(
        tables.size === 1 && [...tables][0]!.trim().length > 0,
        `refstream.table differs between batches or is empty: ${[...tables].join(', ')}`,
      );
      for (const b of consumer.batches) {
        check(JSON.stringify(b.primaryKey) === '["id"]', `refstream.primary_key is ${JSON.stringify(b.primaryKey)}, expected ["id"]`);
      }
      ctx.note(`table ${[...tables][0]}`);
    },
  }),
  defineCheck({
    id: 'SCH-02',
    level: 'MUST',
    category: 'schema',
    rule: 'Table columns come in table order with the documented Arrow types: Int64, Utf8, Decimal128(12,2), Timestamp(µs|ns, UTC), Bool, Utf8; the key column is not nullable in snapshot batches (change batches mark every table column nullable: truncate rows carry no values).',
    method: 'Compares the table columns of every snapshot and change batch with the standard test table.',
    async run(ctx) {
      const consumer = await exercise(ctx);
      for (const b of consumer.batches) {
        const fields = tableFields(b.batch.schema);
        const names = fields.map((f) => f.name);
        const expected = [...TEST_COLUMNS, ...(ctx.target.extraColumns ?? []).map((c) => c.name)];
        check(names.join(',') === expected.join(','), `${b.kind} batch columns are ${names.join(', ')}, expected ${expected.join(', ')}`);
        const problems = fields
          .slice(0, TEST_COLUMNS.length)
          .map(typeProblem)
          .filter((p): p is string => p !== undefined);
        check(problems.length === 0, `${b.kind} batch: ${problems.join('; ')}`);
        if (b.kind === 'snapshot') check(!fields[0]!.nullable, 'snapshot batch: key column id is nullable');
      }
    },
  }),
  defineCheck({
    id: 'SCH-03',
    level: 'MUST',
    category: 'schema',
    rule: 'Change batches end with `_change_type` (Dictionary<Int8, Utf8> over insert|update|delete|truncate) and `_position` (Utf8), both without nulls.',
    method: 'Inspects the last two columns and their values in every change batch after inserts, updates and deletes.',
    requires: { changes: ['log', 'poll'] },
    async run(ctx) {
      const consumer = await exercise(ctx);
      const changeBatches = consumer.batches.filter((b) => b.kind === 'changes');
      check(changeBatches.length > 0, 'no change batch was delivered');
      for (const b of changeBatches) {
        const fields = b.batch.schema.fields;
        const n = fields.length;
        const type = fields[n - 2]!;
        const position = fields[n - 1]!;
        check(
          type.name === CHANGE_TYPE_COLUMN && position.name === POSITION_COLUMN,
          `the last columns are ${type.name}, ${position.name}; expected ${CHANGE_TYPE_COLUMN}, ${POSITION_COLUMN}`,
        );
        const t = type.type as AnyType & { indices?: AnyType; dictionary?: DataType };
        check(
          t.typeId === -1 && t.indices?.bitWidth === 8 && t.dictionary?.typeId === 5,
          `${CHANGE_TYPE_COLUMN} is ${String(type.type)}, expected Dictionary<Int8, Utf8>`,
        );
        check((position.type as DataType).typeId === 5, `${POSITION_COLUMN} is ${String(position.type)}, expected Utf8`);
        for (const row of b.rows) {
          check(
            (CHANGE_TYPES as readonly string[]).includes(row.changeType ?? ''),
            `a change row has _change_type ${JSON.stringify(row.changeType)}`,
          );
          check(typeof row.position === 'string' && row.position.length > 0, `a change row (key ${row.key}) has no _position`);
        }
      }
    },
  }),
  defineCheck({
    id: 'SCH-04',
    level: 'MUST',
    category: 'schema',
    rule: 'The schema is stable: all snapshot batches share one schema (types, nullability, metadata), all change batches another, with the same table columns.',
    method: 'Compares names, types, nullability and field and schema metadata across every batch of a short run (no DDL happens).',
    async run(ctx) {
      const consumer = await exercise(ctx);
      const snapshot = consumer.batches.filter((b) => b.kind === 'snapshot');
      const changes = consumer.batches.filter((b) => b.kind === 'changes');
      for (const group of [snapshot, changes]) {
        const signatures = new Set(group.map((b) => schemaSignature(b.batch.schema)));
        if (signatures.size > 1)
          fail(`${group[0]!.kind} batches have ${signatures.size} different schemas: ${[...signatures].slice(0, 2).join('  vs  ')}`);
      }
      if (snapshot.length > 0 && changes.length > 0) {
        const a = tableFields(snapshot[0]!.batch.schema);
        const b = tableFields(changes[0]!.batch.schema);
        check(sameTableSchema(a, b), 'the table columns of change batches differ from those of snapshot batches');
        const ta = snapshot[0]!.batch.schema.metadata.get(METADATA.table);
        check(ta === changes[0]!.batch.schema.metadata.get(METADATA.table), 'refstream.table differs between snapshot and change batches');
      }
    },
  }),
  defineCheck({
    id: 'SCH-05',
    level: 'SHOULD',
    category: 'schema',
    rule: 'Every table column carries its source type in the field metadata `refstream.source_type`.',
    method: 'Inspects the field metadata of the first snapshot batch.',
    async run(ctx) {
      const consumer = await exercise(ctx);
      const first = consumer.batches[0];
      check(first !== undefined, 'no batch was delivered');
      const missing = tableFields(first.batch.schema).filter((f) => !f.metadata.get(METADATA.sourceType));
      check(missing.length === 0, `no ${METADATA.sourceType} on ${missing.map((f) => f.name).join(', ')}`);
    },
  }),
  defineCheck({
    id: 'SCH-06',
    level: 'MUST',
    category: 'schema',
    rule: 'With `schemaEvolution`, an added nullable column arrives as a change batch whose table columns are the old ones plus the new column.',
    method: `After the snapshot and a change, the harness adds a nullable text column \`${ADDED_COLUMN}\` and inserts a row; the batch carrying it must have the old columns followed by \`${ADDED_COLUMN}\` (nullable Utf8).`,
    requires: { changes: ['log', 'poll'], schemaEvolution: true },
    needsHarness: ['addColumn'],
    verifies: ['schemaEvolution'],
    counterpart: 'SCH-06N',
    async run(ctx) {
      const { consumer, before, writer } = await addColumnScenario(ctx);
      let carrier: Schema | undefined;
      // the marker is written after the row: once it arrived, the row must have arrived too
      await consumer.awaitMarker(
        writer,
        () => 'the row inserted after the column was added did not arrive',
        (batch) => {
          if (!carrier && batch.rows.some((r) => r.key === '10')) carrier = batch.batch.schema;
        },
      );
      check(carrier, 'the row inserted after the column was added did not arrive');
      const after = tableFields(carrier);
      check(sameTableSchema(after.slice(0, before.length), before), 'the existing columns changed when a column was added');
      const added = after[before.length];
      check(
        after.length === before.length + 1 && added?.name === ADDED_COLUMN,
        `table columns after the DDL are ${after.map((f) => f.name).join(', ')}, expected the old ones plus ${ADDED_COLUMN}`,
      );
      check(
        added.nullable && (added.type as DataType).typeId === 5,
        `${ADDED_COLUMN} arrived as ${String(added.type)} (nullable ${added.nullable}), expected nullable Utf8`,
      );
    },
  }),
  defineCheck({
    id: 'SCH-06N',
    level: 'MUST',
    category: 'schema',
    rule: 'Without `schemaEvolution`, an added column stops the stream with a definite `SCHEMA_INCOMPATIBLE` naming the column — never a silently changed or truncated schema.',
    method: `As SCH-06; polling must reject with definite SCHEMA_INCOMPATIBLE mentioning \`${ADDED_COLUMN}\`; a batch with other table columns, or the new row without the column, fails.`,
    requires: { changes: ['log', 'poll'], schemaEvolution: false },
    needsHarness: ['addColumn'],
    counterpart: 'SCH-06',
    async run(ctx) {
      const { consumer, before, writer } = await addColumnScenario(ctx);
      try {
        await consumer.awaitMarker(
          writer,
          () => 'no SCHEMA_INCOMPATIBLE either',
          (batch) => {
            check(
              sameTableSchema(tableFields(batch.batch.schema), before),
              'a change batch with other table columns arrived although schemaEvolution is false',
            );
            check(!batch.rows.some((r) => r.key === '10'), 'the row inserted after the DDL arrived without its new column');
          },
        );
      } catch (error) {
        if (error instanceof CheckFailure) throw error;
        check(
          ConnectorError.is(error, 'SCHEMA_INCOMPATIBLE') && error.kind === 'definite',
          () => `after the DDL polling rejected with ${describeError(error)}, expected definite SCHEMA_INCOMPATIBLE`,
        );
        check(error.message.includes(ADDED_COLUMN), `SCHEMA_INCOMPATIBLE does not name the column: ${error.message}`);
        return;
      }
      fail('the stream went on past the added column (a marker written after it arrived) without a SCHEMA_INCOMPATIBLE');
    },
  }),
  defineCheck({
    id: 'SCH-07',
    level: 'MUST',
    category: 'schema',
    rule: 'With `schemaEvolution`, a dropped non-key column is followed: the change batches after it have the other columns, unchanged, and the stream goes on.',
    method:
      'After the snapshot and a change, the harness drops the nullable column `note` and inserts row 10; the batch carrying it must have the old columns without `note`.',
    requires: { changes: ['log', 'poll'], schemaEvolution: true },
    needsHarness: ['migrate'],
    verifies: ['schemaEvolution'],
    async run(ctx) {
      const { before, after } = await migrationScenario(ctx, 'drop-note');
      const expected = before.filter((f) => f.name !== 'note');
      check(
        sameTableSchema(after.slice(0, expected.length), expected) && after.length === expected.length,
        () => `columns after dropping note: ${columnList(after)}; expected ${columnList(expected)}`,
      );
    },
  }),
  defineCheck({
    id: 'SCH-08',
    level: 'MUST',
    category: 'schema',
    rule: 'With `schemaEvolution`, a renamed column is followed: it keeps its place, type and values under the new name, and its `refstream.column_id` (when the source gives identities) stays the same, so consumers tell a rename from a drop and an add.',
    method:
      "After the snapshot and a change, the harness renames `name` to `title` and inserts row 10; the batch carrying it must have `title` where `name` was, with the same type and column id, and the row's value.",
    requires: { changes: ['log', 'poll'], schemaEvolution: true },
    needsHarness: ['migrate'],
    verifies: ['schemaEvolution'],
    async run(ctx) {
      const { before, after, row } = await migrationScenario(ctx, 'rename-name');
      const at = before.findIndex((f) => f.name === 'name');
      const renamed = after[at];
      check(renamed?.name === 'title', () => `columns after renaming name to title: ${columnList(after)}`);
      check(
        String(renamed!.type) === String(before[at]!.type),
        () => `title is ${String(renamed!.type)}, name was ${String(before[at]!.type)}`,
      );
      check(after.length === before.length, () => `columns after the rename: ${columnList(after)}`);
      const id = before[at]!.metadata.get(METADATA.columnId);
      check(
        id === renamed!.metadata.get(METADATA.columnId),
        () => `refstream.column_id changed from ${id} to ${renamed!.metadata.get(METADATA.columnId)} in the rename`,
      );
      check(typeof row['title'] === 'string' && row['title'] !== '', () => `row 10 arrived with title ${JSON.stringify(row['title'])}`);
    },
  }),
  defineCheck({
    id: 'SCH-09',
    level: 'MUST',
    category: 'schema',
    rule: 'With `schemaEvolution`, a widened type is followed: decimal(12,2) widened to decimal(14,2) arrives as Decimal128(14, 2) with exact values.',
    method:
      'After the snapshot and a change, the harness widens `amount` to decimal(14,2) and inserts row 10; the batch carrying it must type `amount` Decimal128(14, 2), the other columns unchanged.',
    requires: { changes: ['log', 'poll'], schemaEvolution: true },
    needsHarness: ['migrate'],
    verifies: ['schemaEvolution'],
    async run(ctx) {
      const { before, after, row } = await migrationScenario(ctx, 'widen-amount');
      const amount = after.find((f) => f.name === 'amount');
      const t = amount?.type as AnyType | undefined;
      check(
        t?.typeId === 7 && t.precision === 14 && t.scale === 2,
        () => `amount after the widening: ${String(amount?.type)}, expected Decimal128(14, 2)`,
      );
      const others = (fields: Field[]) => fields.filter((f) => f.name !== 'amount');
      check(sameTableSchema(others(after), others(before)), () => `other columns changed: ${columnList(after)}`);
      check(row['amount'] === makeRow(10).amount, () => `row 10 amount ${JSON.stringify(row['amount'])}, expected ${makeRow(10).amount}`);
    },
  }),
];
