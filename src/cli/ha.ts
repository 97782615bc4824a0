/**
 * `refstream sync --ha`: what the command needs for high availability beyond the runner's
 * `ha` option — refusing setups that cannot be fenced (with the reason and the way out), the
 * default group and replica names, the Leadership with the checkpoint store's leases, and its
 * events as log lines (docs/operations.md, "High availability").
 */
import type { CheckpointStore } from '../sdk/checkpoint-store.js';
import { Leadership, type LeaderTerm } from '../sdk/leadership.js';
import type { LeaseStore } from '../sdk/lease.js';
import type { Sink } from '../sdk/sink.js';
import { defaultReplicaId } from '../sdk/sync.js';
import { redactSecrets } from '../sdk/errors.js';
import { CliError, EXIT } from './errors.js';
import type { Reporter } from './reporter.js';

/** The `--ha` settings of a sync. */
export interface HaSettings {
  group?: string;
  replicaId?: string;
  leaseMs?: number;
}

/** Fails with a usage error when `--ha` is combined with what cannot be fenced. */
export function checkHaSetup(o: { sourceUrl: string; checkpointSpec: string | null; sinks: readonly Sink[] }): void {
  if (o.checkpointSpec === null || !/^postgres(ql)?:\/\//i.test(o.checkpointSpec)) {
    const what =
      o.checkpointSpec === null
        ? 'no checkpoint store'
        : /^kafkas?:\/\//i.test(o.checkpointSpec)
          ? 'a Kafka checkpoint store'
          : 'a checkpoint file';
    throw new CliError(
      `--ha needs a postgres:// checkpoint store (the lease and its epoch live beside the checkpoints, and every checkpoint save is compare-and-set on the epoch); ${what} cannot fence a replica that lost the lease — use --checkpoint postgres://…[#schema.table] on every replica`,
      EXIT.badUsage,
    );
  }
  if (/^exasol:\/\//i.test(o.sourceUrl) && !/[?&]mode=watermark\b/.test(o.sourceUrl)) {
    throw new CliError(
      '--ha: an Exasol source in diff mode keeps its change-detection state in a local directory (stateDir), which another replica cannot take over; use mode=watermark, or run one sync without --ha',
      EXIT.badUsage,
    );
  }
  for (const sink of o.sinks) {
    const transactional = (sink as { transactional?: unknown }).transactional;
    if (transactional === false) {
      throw new CliError(
        `--sink ${sink.name}: under --ha a Kafka sink needs transactions=true (a stable transactional.id per group lets the broker fence the producer of a replica that lost the lease; an idempotent producer could still write)`,
        EXIT.badUsage,
      );
    }
    if (typeof sink.fence !== 'function') {
      throw new CliError(
        `--sink ${sink.name}: cannot be fenced, so under --ha a replica that lost the lease (paused, partitioned) could still write to it; use a postgres://…#schema.table sink, a kafka://…?transactions=true sink or memory — or run this sink's sync on one replica without --ha`,
        EXIT.badUsage,
      );
    }
  }
}

/** The default group of one table's replicas: the table and its source (no credentials), as checkpoint entries are keyed. */
export function defaultGroup(key: string): string {
  return redactSecrets(key);
}

/** The store's leases, and a Leadership on them; close both at the end. */
export function createLeadership(
  store: CheckpointStore,
  settings: HaSettings,
  group: string,
): { leadership: Leadership; leases: LeaseStore } {
  const inner = (store as { primary?: CheckpointStore }).primary ?? store;
  if (typeof inner.leaseStore !== 'function') {
    throw new CliError('--ha needs a postgres:// checkpoint store (it keeps the leases)', EXIT.badUsage);
  }
  const leases = inner.leaseStore();
  const leadership = new Leadership({
    leases,
    group: settings.group ?? group,
    replicaId: settings.replicaId ?? defaultReplicaId(),
    ...(settings.leaseMs !== undefined ? { leaseMs: settings.leaseMs } : {}),
  });
  return { leadership, leases };
}

/** Logs what a replica does: waiting (and who leads), leading, losing or releasing the lease, lease store failures (at most every 10 s). */
export function reportLeadership(leadership: Leadership, reporter: Reporter): void {
  let lastStoreError = 0;
  leadership.on('standby', ({ group, leader, epoch, expiresInMs }) =>
    reporter.event('standby', {
      group,
      replica: leadership.replicaId,
      leader: leader ?? 'none',
      epoch,
      leaseExpiresInMs: Math.max(0, Math.round(expiresInMs)),
      message: `waiting as a standby; ${leader ?? 'nobody'} leads with epoch ${epoch}`,
    }),
  );
  leadership.on('elected', ({ group, epoch, previous }) =>
    reporter.event('leader', { group, replica: leadership.replicaId, epoch, ...(previous ? { previous } : {}) }),
  );
  leadership.on('term-ended', ({ group, epoch, reason, detail }) =>
    reporter.event(reason === 'released' ? 'lease-released' : 'lease-lost', {
      group,
      replica: leadership.replicaId,
      epoch,
      reason,
      detail,
    }),
  );
  leadership.on('store-error', ({ during, error }) => {
    if (Date.now() - lastStoreError < 10_000) return;
    lastStoreError = Date.now();
    reporter.event('warning', { code: 'LEASE_STORE_FAILED', during, message: error.message });
  });
}

/** The status-line field of a replica: `leader e5` or `standby (leader host:42 e5)`. */
export function leadershipField(leadership: Leadership): string {
  const s = leadership.status;
  if (s.role === 'leader') return `leader e${s.epoch}`;
  return `${s.role}${s.leader ? ` (leader ${s.leader} e${s.epoch})` : ''}`;
}

/**
 * One value per term: `make` builds it when a term starts, and the previous term's value is
 * disposed of first (a capture per term: its stream holds the slot until it is closed).
 */
export function perTerm<T>(
  current: () => LeaderTerm | null,
  make: () => T,
  dispose: (value: T) => Promise<void>,
): { get: () => Promise<T>; dispose: () => Promise<void> } {
  let held: { term: LeaderTerm | null; value: T } | null = null;
  let switching: Promise<T> | null = null;
  const get = async (): Promise<T> => {
    const term = current();
    if (held && held.term === term) return held.value;
    if (switching) {
      await switching.catch(() => undefined);
      return get();
    }
    switching = (async () => {
      if (held) await dispose(held.value).catch(() => undefined);
      held = null;
      const value = make();
      held = { term, value };
      return value;
    })();
    try {
      return await switching;
    } finally {
      switching = null;
    }
  };
  return {
    get,
    dispose: async () => {
      await switching?.catch(() => undefined);
      const value = held?.value;
      held = null;
      if (value !== undefined) await dispose(value);
    },
  };
}
