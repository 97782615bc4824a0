import { z } from 'zod';
import { definite } from './errors.js';
import { configProblems } from './config.js';

/** Version of the checkpoint envelope. Bumped only on incompatible envelope changes. */
export const CHECKPOINT_VERSION = 1;

/** Any JSON value (what a connector may store as its position). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * A source position, as a plain JSON object.
 *
 * The envelope (`version`, `connector`, `table`, `phase`) is common to every connector so
 * that a checkpoint of another connector or table is rejected before it is interpreted;
 * `position` is the connector's own, validated by that connector.
 */
export interface SourceCheckpoint {
  /** Envelope version, currently {@link CHECKPOINT_VERSION}. */
  readonly version: number;
  /** Connector id, e.g. `postgres`, `exasol`, `memory`. */
  readonly connector: string;
  /** Qualified table name the position belongs to. */
  readonly table: string;
  /** Whether the position is inside the snapshot or in the change stream. */
  readonly phase: 'snapshot' | 'changes';
  /** Connector-specific position (opaque to everyone else). */
  readonly position: JsonValue;
}

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

/** zod schema of the checkpoint envelope. */
export const sourceCheckpointSchema = z
  .object({
    version: z.number().int(),
    connector: z.string().min(1),
    table: z.string().min(1),
    phase: z.enum(['snapshot', 'changes']),
    position: jsonValue,
  })
  .strict();

/** What a connector expects of a checkpoint handed to its `restore`. */
export interface CheckpointExpectation {
  connector: string;
  table: string;
}

/**
 * Validates a checkpoint (object or JSON text) for a given connector and table.
 * Throws definite `CHECKPOINT_INVALID` naming what is wrong and how to fix it.
 */
export function parseCheckpoint(input: unknown, expected?: CheckpointExpectation): SourceCheckpoint {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw definite('CHECKPOINT_INVALID', `checkpoint is not valid JSON: ${(error as Error).message}`, {
        hint: 'pass the object returned by source.checkpoint() (or its JSON text) unchanged',
        ...(expected ? { table: expected.table } : {}),
      });
    }
  }
  const parsed = sourceCheckpointSchema.safeParse(value);
  if (!parsed.success) {
    const problems = configProblems(parsed.error).join('; ');
    throw definite('CHECKPOINT_INVALID', `checkpoint is malformed: ${problems}`, {
      hint: 'pass the object returned by source.checkpoint() unchanged; delete the checkpoint to start over with a new snapshot',
      ...(expected ? { table: expected.table } : {}),
    });
  }
  const checkpoint = parsed.data as SourceCheckpoint;
  if (checkpoint.version !== CHECKPOINT_VERSION) {
    throw definite(
      'CHECKPOINT_INVALID',
      `checkpoint version ${checkpoint.version} is not supported (this refstream reads version ${CHECKPOINT_VERSION})`,
      { hint: 'restore with the refstream version that wrote it, or delete the checkpoint to start over', table: checkpoint.table },
    );
  }
  if (expected && checkpoint.connector !== expected.connector) {
    throw definite('CHECKPOINT_INVALID', `checkpoint belongs to connector "${checkpoint.connector}", not "${expected.connector}"`, {
      hint: 'use the checkpoint store of this source, or delete the checkpoint to start over',
      table: expected.table,
    });
  }
  if (expected && checkpoint.table !== expected.table) {
    throw definite('CHECKPOINT_INVALID', `checkpoint belongs to table ${checkpoint.table}, not ${expected.table}`, {
      hint: 'use one checkpoint store per table',
      table: expected.table,
    });
  }
  return checkpoint;
}

/**
 * Validates a connector's own `position` with its zod schema, turning failures into
 * `CHECKPOINT_INVALID`.
 */
export function parsePosition<T>(schema: z.ZodType<T>, checkpoint: SourceCheckpoint): T {
  const parsed = schema.safeParse(checkpoint.position);
  if (!parsed.success) {
    const problems = configProblems(parsed.error, (key) => `position.${key}`).join('; ');
    throw definite('CHECKPOINT_INVALID', `checkpoint position is malformed for ${checkpoint.connector}: ${problems}`, {
      hint: 'pass the object returned by source.checkpoint() unchanged',
      table: checkpoint.table,
    });
  }
  return parsed.data;
}

/** Builds a checkpoint envelope. */
export function makeCheckpoint(connector: string, table: string, phase: 'snapshot' | 'changes', position: JsonValue): SourceCheckpoint {
  return { version: CHECKPOINT_VERSION, connector, table, phase, position };
}
