/**
 * The table schema the Kafka source reads a topic with: the `schema` option when given,
 * otherwise the latest `schema` control record read from the topic.
 */
import { snapshotSchema, type TableDescriptor } from '../../sdk/batch.js';
import { definite } from '../../sdk/errors.js';
import { toIpc } from './encode.js';
import { descriptorFromIpc } from './decode.js';
import type { FetchedRecord } from './fetcher.js';
import { HEADERS } from './records.js';

/** The schema of one source's topic, as far as it is known. */
export class TopicSchema {
  /** The descriptor rows are read with (null until a schema is given or read). */
  descriptor: TableDescriptor | null;

  /**
   * @param topic - the topic, named in errors
   * @param table - the table, named in errors
   * @param fixed - the `schema` option: when given, schema records in the topic are ignored
   */
  constructor(
    private readonly topic: string,
    private readonly table: string,
    private readonly fixed: TableDescriptor | null,
  ) {
    this.descriptor = fixed;
  }

  /** Takes the schema a `schema` control record carries, unless the schema was given. */
  adopt(r: FetchedRecord): void {
    const bytes = r.headers[HEADERS.schema];
    if (bytes === undefined || this.fixed !== null) return;
    this.descriptor = descriptorFromIpc(bytes);
  }

  /** The descriptor, or the definite `SCHEMA_INCOMPATIBLE` when rows arrive before any schema. */
  require(): TableDescriptor {
    if (this.descriptor === null) {
      throw definite('SCHEMA_INCOMPATIBLE', `topic ${this.topic} has rows but no schema record was read`, {
        table: this.table,
        hint: 'pass the table schema as the `schema` option (topics written with controlRecords: false have no schema record; in the previous record format compaction removed them)',
      });
    }
    return this.descriptor;
  }

  /** The schema as base64 Arrow IPC, as a change-phase checkpoint stores it (null while unknown). */
  text(): string | null {
    return this.descriptor === null ? null : toIpc([], snapshotSchema(this.descriptor)).toString('base64');
  }
}
