/**
 * Leader election among the replicas of one sync (docs/operations.md, "High availability").
 *
 * Each replica campaigns for its group's lease in a {@link LeaseStore}. The winner holds a
 * {@link LeaderTerm} with the lease's epoch, renews the lease every `renewEveryMs`, and ends the
 * term itself once a renewal says the lease moved on, or once its own deadline passes without
 * a renewal. The deadline is `leaseMs × (1 − maxClockDrift)` after the last successful renewal
 * was *sent*, measured on the replica's monotonic clock: the store's clock decides expiry, and
 * the store received the renewal after it was sent, so as long as the replica's clock runs at
 * most `maxClockDrift` slower than the store's, the replica stops believing it leads before
 * the store lets another replica take the lease. Safety does not depend on that bound: every
 * write is fenced by the epoch at the store or sink. The bound keeps the old leader from
 * holding exclusive resources (a replication slot) after the new one starts.
 */
import { EventEmitter } from 'node:events';
import { abortError, ConnectorError, definite, isAbortError, toConnectorError } from './errors.js';
import { leaseLost, type Fence, type LeaseStore } from './lease.js';

/** A monotonic clock (milliseconds) and a way to wait on it; replaceable in tests. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with an AbortError when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The process's monotonic clock. */
export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Default lease time: a takeover after a crash completes within about 1.5 × this. */
export const DEFAULT_LEASE_MS = 4000;
/** Default bound on how much slower than the store's a replica's clock may run. */
export const DEFAULT_MAX_CLOCK_DRIFT = 0.1;

/** Options of {@link Leadership}. */
export interface LeadershipOptions {
  /** Where the group's lease lives (e.g. `PostgresCheckpointStore.leaseStore()`). */
  leases: LeaseStore;
  /** The replicas of one sync share a group name. */
  group: string;
  /** This replica's name, unique in the group (shown by `refstream status`). */
  replicaId: string;
  /** Lease time (default {@link DEFAULT_LEASE_MS}). */
  leaseMs?: number;
  /** How often the leader renews (default a quarter of `leaseMs`). */
  renewEveryMs?: number;
  /**
   * How much slower than the lease store's clock this replica's clock may run, as a fraction
   * (default 0.1): the leader treats its lease as over `leaseMs × (1 − maxClockDrift)` after
   * the last renewal it sent.
   */
  maxClockDrift?: number;
  /** How often a standby tries at most (default the smaller of 1000 ms and half the lease). */
  maxPollMs?: number;
  clock?: Clock;
  /** Random numbers in [0, 1) for the standbys' jitter (default `Math.random`; tests make it reproducible). */
  random?: () => number;
}

/** One period of leadership, with the epoch every write of it is fenced by. */
export interface LeaderTerm {
  readonly fence: Fence;
  readonly epoch: number;
  /** Aborted (reason: a `LEASE_LOST` ConnectorError) as soon as the term ends. */
  readonly signal: AbortSignal;
  /** True until the term ended or its deadline passed (read from the clock, not a flag). */
  readonly active: boolean;
  /**
   * Confirms at the store that the lease is still at this term's epoch; ends the term and
   * rejects with `LEASE_LOST` when it is not. Called before taking over an exclusive resource.
   */
  confirm(): Promise<void>;
}

/** Where a replica stands (metrics and `refstream status`). */
export interface LeadershipStatus {
  group: string;
  replicaId: string;
  role: 'leader' | 'standby' | 'stopped';
  /** This replica's epoch while it leads; else the last epoch it saw. */
  epoch: number | null;
  /** Who holds (or last held) the lease, as far as this replica knows. */
  leader: string | null;
  /** Milliseconds since the lease was last renewed (by this replica when it leads). */
  leaseAgeMs: number | null;
  /** Successful renewals and terms won by this replica so far. */
  renewals: number;
  terms: number;
}

/** Events of {@link Leadership}. */
export interface LeadershipEvents {
  /** This replica waits; emitted when the leader it sees changes, and every `standbyReportMs`. */
  standby: [info: { group: string; leader: string | null; epoch: number; expiresInMs: number }];
  elected: [info: { group: string; epoch: number; previous: string | null }];
  /** The term ended: another replica took the lease (`lost`), no renewal in time (`expired`), or it was released. */
  'term-ended': [info: { group: string; epoch: number; reason: 'lost' | 'expired' | 'released'; detail: string }];
  /** The lease store failed (the replica keeps trying). */
  'store-error': [info: { group: string; during: 'acquire' | 'renew' | 'confirm'; error: ConnectorError }];
}

/** How often a standby repeats that it is waiting, though nothing changed. */
const STANDBY_REPORT_MS = 30_000;

/**
 * Campaigns for a group's lease and holds it while it can. Several runs in one process may
 * share one Leadership (one lease for several tables): `acquire` hands all of them the same term.
 */
export class Leadership extends EventEmitter<LeadershipEvents> {
  readonly group: string;
  readonly replicaId: string;
  readonly leaseMs: number;
  private readonly renewEveryMs: number;
  private readonly drift: number;
  private readonly maxPollMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly leases: LeaseStore;
  private term: Term | null = null;
  private campaign: Promise<Term> | null = null;
  private readonly closing = new AbortController();
  private seen: { leader: string | null; epoch: number; renewedAgoMs: number; at: number } | null = null;
  private lastReport: { key: string; at: number } | null = null;
  private renewals = 0;
  private terms = 0;
  private closed = false;

  constructor(options: LeadershipOptions) {
    super();
    this.group = options.group;
    this.replicaId = options.replicaId;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.drift = options.maxClockDrift ?? DEFAULT_MAX_CLOCK_DRIFT;
    this.renewEveryMs = options.renewEveryMs ?? this.leaseMs / 4;
    this.maxPollMs = options.maxPollMs ?? Math.min(1000, this.leaseMs / 2);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.leases = options.leases;
    const problems: string[] = [];
    if (!this.group) problems.push('group: must not be empty');
    if (!this.replicaId) problems.push('replicaId: must not be empty');
    if (!(this.leaseMs >= 100)) problems.push(`leaseMs: ${this.leaseMs} is below 100`);
    if (!(this.drift >= 0 && this.drift < 0.5)) problems.push(`maxClockDrift: ${this.drift} is not in [0, 0.5)`);
    if (!(this.renewEveryMs > 0 && this.renewEveryMs < this.leaseMs * (1 - this.drift)))
      problems.push(`renewEveryMs: ${this.renewEveryMs} must be positive and below leaseMs × (1 − maxClockDrift)`);
    if (problems.length > 0)
      throw definite('CONFIG_INVALID', `invalid high-availability settings: ${problems.join('; ')}`, {
        hint: 'see docs/operations.md, "High availability"',
      });
  }

  /**
   * The current term, or waits (as a standby) until this replica wins the lease. Rejects with
   * an AbortError when `signal` aborts, and with `CLOSED` once the Leadership is closed.
   */
  async acquire(signal?: AbortSignal): Promise<LeaderTerm> {
    if (this.closed) throw definite('CLOSED', `leadership of group ${this.group} is closed`);
    if (this.term?.active) return this.term;
    this.campaign ??= this.campaignForLease().finally(() => (this.campaign = null));
    if (!signal) return this.campaign;
    if (signal.aborted) throw abortError(signal);
    return new Promise<LeaderTerm>((resolve, reject) => {
      const onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.campaign!.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Ends the current term and releases the lease, so another replica takes over at once. */
  async release(): Promise<void> {
    const term = this.term;
    if (!term) return;
    term.end('released', 'released by its holder');
    await this.leases.release(term.fence).catch(() => {});
  }

  /** Releases the lease and stops campaigning. Idempotent; does not close the lease store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await this.campaign?.catch(() => {});
    await this.release();
  }

  /** The term this replica leads in now, or `null`. */
  get current(): LeaderTerm | null {
    return this.term?.active ? this.term : null;
  }

  /** Where this replica stands. */
  get status(): LeadershipStatus {
    const term = this.term?.active ? this.term : null;
    const seen = this.seen;
    return {
      group: this.group,
      replicaId: this.replicaId,
      role: this.closed ? 'stopped' : term ? 'leader' : 'standby',
      epoch: term ? term.epoch : (seen?.epoch ?? null),
      leader: term ? this.replicaId : (seen?.leader ?? null),
      leaseAgeMs: term
        ? Math.max(0, this.clock.now() - term.renewedAt)
        : seen
          ? Math.max(0, seen.renewedAgoMs + this.clock.now() - seen.at)
          : null,
      renewals: this.renewals,
      terms: this.terms,
    };
  }

  private async campaignForLease(): Promise<Term> {
    const signal = this.closing.signal;
    for (;;) {
      if (signal.aborted) throw definite('CLOSED', `leadership of group ${this.group} is closed`);
      const sentAt = this.clock.now();
      let waitMs = this.maxPollMs;
      try {
        const { acquired, lease } = await this.leases.acquire(this.group, this.replicaId, this.leaseMs);
        if (signal.aborted) {
          if (acquired) await this.leases.release({ group: this.group, epoch: lease.epoch, holder: this.replicaId }).catch(() => {});
          continue;
        }
        if (acquired) return this.begin(lease.epoch, sentAt);
        this.seen = { leader: lease.holder, epoch: lease.epoch, renewedAgoMs: lease.renewedAgoMs, at: this.clock.now() };
        this.reportStandby(lease.holder, lease.epoch, lease.expiresInMs);
        // try again just after it would expire (a little jitter spreads the standbys)
        waitMs = Math.min(this.maxPollMs, Math.max(10, lease.expiresInMs + 5)) * (0.9 + this.random() * 0.2);
      } catch (error) {
        this.emit('store-error', { group: this.group, during: 'acquire', error: toConnectorError(error) });
      }
      try {
        await this.clock.sleep(waitMs, signal);
      } catch (error) {
        if (!isAbortError(error)) throw error;
      }
    }
  }

  private reportStandby(leader: string | null, epoch: number, expiresInMs: number): void {
    const key = `${leader}#${epoch}`;
    const now = this.clock.now();
    if (this.lastReport && this.lastReport.key === key && now - this.lastReport.at < STANDBY_REPORT_MS) return;
    this.lastReport = { key, at: now };
    this.emit('standby', { group: this.group, leader, epoch, expiresInMs });
  }

  private begin(epoch: number, sentAt: number): Term {
    const previous = this.seen?.leader ?? null;
    const term = new Term(this, { group: this.group, epoch, holder: this.replicaId }, sentAt);
    this.term = term;
    this.terms++;
    this.lastReport = null;
    this.seen = { leader: this.replicaId, epoch, renewedAgoMs: 0, at: sentAt };
    this.emit('elected', { group: this.group, epoch, previous });
    void this.keepRenewing(term);
    void this.watchDeadline(term);
    return term;
  }

  /** The local deadline of a lease renewed (sent) at `sentAt`. */
  deadlineAfter(sentAt: number): number {
    return sentAt + this.leaseMs * (1 - this.drift);
  }

  private async keepRenewing(term: Term): Promise<void> {
    while (term.live) {
      try {
        await this.clock.sleep(Math.max(0, Math.min(this.renewEveryMs, term.deadline - this.clock.now())), term.signal);
      } catch {
        return; // the term ended
      }
      if (!term.live) return;
      const sentAt = this.clock.now();
      if (sentAt >= term.deadline) return; // the deadline watcher ends it
      try {
        const ok = await this.leases.renew(term.fence, this.leaseMs);
        if (!term.live) return;
        if (!ok) {
          term.end('lost', 'the lease moved to a newer epoch');
          return;
        }
        term.renewed(sentAt, this.deadlineAfter(sentAt));
        this.renewals++;
      } catch (error) {
        if (term.live) this.emit('store-error', { group: this.group, during: 'renew', error: toConnectorError(error) });
      }
    }
  }

  private async watchDeadline(term: Term): Promise<void> {
    while (term.live) {
      const left = term.deadline - this.clock.now();
      if (left <= 0) {
        term.end('expired', `no renewal within ${Math.round(this.leaseMs * (1 - this.drift))} ms`);
        return;
      }
      try {
        await this.clock.sleep(left, term.signal);
      } catch {
        return;
      }
    }
  }

  /** Called by a term that ended. */
  ended(term: Term, reason: 'lost' | 'expired' | 'released', detail: string): void {
    if (this.term === term) this.term = null;
    this.emit('term-ended', { group: this.group, epoch: term.epoch, reason, detail });
  }

  /** Reads the lease at the store: does `term` still hold it? */
  async confirm(term: Term): Promise<void> {
    if (!term.active) throw term.lostError ?? leaseLost(term.fence, 'the term has ended');
    let lease;
    try {
      lease = await this.leases.read(this.group);
    } catch (error) {
      const failure = toConnectorError(error);
      this.emit('store-error', { group: this.group, during: 'confirm', error: failure });
      throw failure;
    }
    if (!lease || lease.epoch !== term.epoch || lease.holder !== term.fence.holder) {
      this.seen = lease ? { leader: lease.holder, epoch: lease.epoch, renewedAgoMs: lease.renewedAgoMs, at: this.clock.now() } : this.seen;
      term.end('lost', lease ? `the lease is at epoch ${lease.epoch}, held by ${lease.holder ?? 'nobody'}` : 'the lease is gone');
      throw term.lostError!;
    }
    if (!term.active) throw term.lostError ?? leaseLost(term.fence, 'the term has ended');
  }

  get now(): number {
    return this.clock.now();
  }
}

/** A term as {@link Leadership} keeps it. */
class Term implements LeaderTerm {
  readonly epoch: number;
  deadline: number;
  renewedAt: number;
  lostError: ConnectorError | null = null;
  private readonly controller = new AbortController();

  constructor(
    private readonly owner: Leadership,
    readonly fence: Fence,
    sentAt: number,
  ) {
    this.epoch = fence.epoch;
    this.renewedAt = sentAt;
    this.deadline = owner.deadlineAfter(sentAt);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Not ended (the deadline may have passed: the watcher ends it). */
  get live(): boolean {
    return !this.controller.signal.aborted;
  }

  get active(): boolean {
    return this.live && this.owner.now < this.deadline;
  }

  confirm(): Promise<void> {
    return this.owner.confirm(this);
  }

  renewed(sentAt: number, deadline: number): void {
    if (deadline > this.deadline) this.deadline = deadline;
    this.renewedAt = sentAt;
  }

  end(reason: 'lost' | 'expired' | 'released', detail: string): void {
    if (!this.live) return;
    this.lostError = leaseLost(this.fence, detail);
    this.controller.abort(this.lostError);
    this.owner.ended(this, reason, detail);
  }
}
