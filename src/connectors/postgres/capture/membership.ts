/**
 * What a table's source asks of the capture it belongs to (see capture.ts). A `PostgresSource`
 * with a membership reads its table like any other, but shares the capture's slot,
 * publication, exported snapshots and change stream instead of owning them.
 */
import type pg from 'pg';
import type { ConnectorError } from '../../../sdk/errors.js';
import type { LeaderTerm } from '../../../sdk/leadership.js';
import type { TableInfo } from '../catalog.js';
import type { OpenChannel } from '../change-channel.js';

/** A snapshot a capture exported for one table's initial read. */
export interface SnapshotLease {
  snapshotId: string;
  /** Changes committed at or after this LSN are not in the snapshot. */
  lsn: bigint;
  /** `pg_current_snapshot()` of the exported snapshot. */
  xids: string;
  /** Ends this table's use of it (the last user closes the export) and frees the read permit. */
  release(): Promise<void>;
}

/** The capture side of one table's source. */
export interface CaptureMembership {
  /** The capture's replication slot and publication. */
  readonly slot: string;
  readonly publication: string;
  /** A shared SQL connection for catalog queries (not closed by the table). */
  sql(): Promise<pg.Client>;
  /**
   * The table's source is positioned (restored, or about to take a snapshot): the capture
   * waits for every table before it exports the first snapshot, so they share it.
   */
  settled(): void;
  /** Makes sure the publication publishes the table and the slot exists (waits for a running preparation). */
  prepare(info: TableInfo): Promise<void>;
  /** An exported snapshot to read the table at, once a read permit is free (bounded snapshot connections). */
  exportSnapshot(info: TableInfo, signal?: AbortSignal): Promise<SnapshotLease>;
  /** A read permit for resuming an interrupted snapshot (the table exports its own snapshot). */
  readPermit(signal?: AbortSignal): Promise<() => void>;
  /** Channels of the capture's shared stream for this table. */
  readonly openChannel: OpenChannel;
  /**
   * The table needs the stream from `lsn` on (its restored or committed position): the slot is
   * never confirmed past the lowest such position of all tables.
   */
  hold(lsn: bigint): void;
  /** The table stopped with a definite error: it no longer holds the slot back. */
  failed(error: ConnectorError): void;
  /** The table's source closed (it may come back with a restored checkpoint). */
  detached(): void;
  /** High availability: the runner leads with `term`; the capture's stream may take the slot over. */
  leadWith(term: LeaderTerm): void;
}
