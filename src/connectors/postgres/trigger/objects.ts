/**
 * The database objects of trigger capture for one table, their names, and the metadata the
 * capture function carries in its comment (version, table, key, notification channel), by
 * which installs, readers, `refstream status` and `refstream drop` recognise them.
 */
import * as z from '../../../sdk/zod.js';
import { defaultObjectName, displayName, type QualifiedName } from '../identifiers.js';

/**
 * Version of the objects' layout. An install finding an older version upgrades the objects in
 * place (keeping the change rows); a newer one is refused.
 */
export const TRIGGER_CAPTURE_VERSION = 1;

/** Schema of the objects unless configured otherwise (`triggerSchema`). */
export const DEFAULT_TRIGGER_SCHEMA = 'refstream';

/** Comments of capture functions start with this; the JSON metadata follows. */
export const CAPTURE_COMMENT_PREFIX = 'refstream trigger capture ';

/** Names of the statement triggers on the captured table, by event. */
export const TRIGGER_NAMES = {
  insert: 'refstream_capture_insert',
  update: 'refstream_capture_update',
  delete: 'refstream_capture_delete',
  truncate: 'refstream_capture_truncate',
} as const;

/** Every object trigger capture creates for one table. */
export interface TriggerObjects {
  /** Schema of the tables and the function. */
  readonly schema: string;
  /** The change table: one row per changed row (and per TRUNCATE). */
  readonly changes: string;
  /** One row per consumer: how far its committed checkpoint has read. */
  readonly consumers: string;
  /**
   * The epochs each consumer has read past its committed checkpoint, in order, so that a
   * restart replays exactly the batches (and positions) delivered before.
   */
  readonly epochs: string;
  /** The trigger function. */
  readonly fn: string;
  /** The NOTIFY channel the function signals after each statement that changed rows. */
  readonly channel: string;
}

/** The objects of `table` under default names in `schema`. */
export function defaultTriggerObjects(table: QualifiedName, schema: string = DEFAULT_TRIGGER_SCHEMA): TriggerObjects {
  return {
    schema,
    changes: defaultObjectName('changes', table),
    consumers: defaultObjectName('consumers', table),
    epochs: defaultObjectName('epochs', table),
    fn: defaultObjectName('capture', table),
    channel: defaultObjectName('refstream', table),
  };
}

/** What the function's comment records. */
export const captureMetadataSchema = z.object({
  version: z.int().check(z.gte(0)),
  /** The captured table as it was named at install (it may have been renamed since). */
  table: z.string(),
  /** Its oid at install, as text. */
  oid: z.string(),
  /** Key columns a key change is detected on (the table's key at install). */
  key: z.array(z.string()),
  changes: z.string(),
  consumers: z.string(),
  epochs: z.string(),
  /** The NOTIFY channel, `null` when installed without notifications. */
  channel: z.nullable(z.string()),
});

export type CaptureMetadata = z.output<typeof captureMetadataSchema>;

/** The comment text of a capture function. */
export function captureComment(meta: CaptureMetadata): string {
  return CAPTURE_COMMENT_PREFIX + JSON.stringify(meta);
}

/** The metadata in a function comment, or `null` when it is not a (readable) capture comment. */
export function parseCaptureComment(comment: string | null): CaptureMetadata | null {
  if (comment === null || !comment.startsWith(CAPTURE_COMMENT_PREFIX)) return null;
  try {
    const parsed = captureMetadataSchema.safeParse(JSON.parse(comment.slice(CAPTURE_COMMENT_PREFIX.length)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Metadata for a fresh install of `objects` on `table`. */
export function metadataFor(
  table: { name: QualifiedName; oid: number; primaryKey: readonly string[] },
  objects: TriggerObjects,
  notify: boolean,
): CaptureMetadata {
  return {
    version: TRIGGER_CAPTURE_VERSION,
    table: displayName(table.name),
    oid: String(table.oid),
    key: [...table.primaryKey],
    changes: objects.changes,
    consumers: objects.consumers,
    epochs: objects.epochs,
    channel: notify ? objects.channel : null,
  };
}
