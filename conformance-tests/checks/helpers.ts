/**
 * Building blocks shared by the checks.
 */
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { Consumer, TableWriter } from '../drive.js';
import type { CapabilityRequirement, CheckContext, ConformanceCheck, SourceOptions } from '../types.js';
import type { DeliveredView } from '../view.js';

/** Identity function that types a check definition. */
export function defineCheck(check: ConformanceCheck): ConformanceCheck {
  return check;
}

/** Checks that need a change stream of some kind. */
export const NEEDS_CHANGES: CapabilityRequirement = { changes: ['log', 'poll'] };

/** A writer over the check's table. */
export function writerFor(ctx: CheckContext): TableWriter {
  return new TableWriter(ctx.harness, ctx.target.quirks);
}

/** Creates a source with `options` and a consumer that enforces its `batchRows`. */
export async function consumerFor(ctx: CheckContext, options: SourceOptions = {}, view?: DeliveredView): Promise<Consumer> {
  const source = await ctx.createSource(options);
  return new Consumer(
    source,
    ctx.capabilities,
    {
      convergeMs: ctx.settings.convergeMs,
      ...(ctx.target.extraColumns ? { extraColumns: ctx.target.extraColumns } : {}),
      ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
    },
    view,
  );
}

/** Keys allowed to linger in the view: deleted keys, when the source does not observe deletes. */
export function lingering(ctx: CheckContext, writer: TableWriter): ((key: string) => boolean) | undefined {
  return ctx.capabilities.deletes ? undefined : (key) => writer.deleted.has(key);
}

/** A checkpoint after a JSON round trip, as a checkpoint store would hand it back. */
export function storedCheckpoint(checkpoint: SourceCheckpoint): SourceCheckpoint {
  return JSON.parse(JSON.stringify(checkpoint)) as SourceCheckpoint;
}

/** Snapshot then changes until the view equals the table: the common start of many checks. */
export async function catchUp(consumer: Consumer, writer: TableWriter, ctx: CheckContext): Promise<void> {
  if (!consumer.source.isSnapshotComplete()) await consumer.drainSnapshot();
  if (ctx.capabilities.changes === 'none') return;
  await consumer.converge(writer, lingering(ctx, writer));
}
