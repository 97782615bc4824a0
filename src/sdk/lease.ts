/**
 * Leases with fencing epochs: what replicas of one sync elect their leader with (see
 * leadership.ts and docs/operations.md, "High availability").
 *
 * A lease belongs to a group (the replicas of one sync). The store decides expiry by its own
 * clock, so replicas never compare their clocks with each other. Every acquisition of a free or
 * expired lease increments the group's epoch; the epoch is the fencing token every checkpoint
 * write and every fenced sink write is checked against, so a replica that lost the lease
 * (paused, partitioned) cannot write once a newer epoch exists.
 */
import { ConnectorError, definite } from './errors.js';

/** The lease of a group as its store holds it. */
export interface LeaseRecord {
  readonly group: string;
  /** Incremented by every acquisition; 0 before the first. */
  readonly epoch: number;
  /** The replica that acquired it last (it may have expired or been released). */
  readonly holder: string | null;
  /** Milliseconds until it expires, by the store's clock (0 or less: expired or released). */
  readonly expiresInMs: number;
  /** Milliseconds since the holder acquired or last renewed it, by the store's clock. */
  readonly renewedAgoMs: number;
}

/** What a write is checked against: the group's lease must still be at `epoch`, held by `holder`. */
export interface Fence {
  readonly group: string;
  readonly epoch: number;
  readonly holder: string;
}

/**
 * Where leases live (beside the checkpoints: `PostgresCheckpointStore.leaseStore()`). Every
 * method is one atomic step at the store; expiry is judged by the store's clock.
 */
export interface LeaseStore {
  /**
   * Takes the lease of `group` for `holder` for `ttlMs` when it is free, expired, released or
   * held by `holder` itself (an ended term of this replica), with the next epoch. Returns whether it did, and the lease after the attempt (to report
   * who leads).
   */
  acquire(group: string, holder: string, ttlMs: number): Promise<{ acquired: boolean; lease: LeaseRecord }>;
  /** Extends the lease `fence` names by `ttlMs` from now; false when the group has moved to a newer epoch. */
  renew(fence: Fence, ttlMs: number): Promise<boolean>;
  /** Ends the lease `fence` names at once, so another replica may take it; no-op when it moved on. */
  release(fence: Fence): Promise<void>;
  /** The lease of `group`, or `null` when none was ever taken. */
  read(group: string): Promise<LeaseRecord | null>;
  close?(): Promise<void>;
}

/** The error of a write made under a lease that has moved to a newer epoch (or ended). */
export function leaseLost(fence: Fence | null, detail: string): ConnectorError {
  return new ConnectorError(
    'LEASE_LOST',
    `${fence ? `replica ${fence.holder} lost the lease of group ${fence.group} (epoch ${fence.epoch})` : 'the lease was lost'}: ${detail}`,
    {
      kind: 'transient',
      hint: 'nothing to fix: the replica stops writing and waits as a standby; another replica leads (refstream status shows which)',
    },
  );
}

/** True for the error of a write fenced off by a newer epoch. */
export function isLeaseLost(error: unknown): boolean {
  return ConnectorError.is(error, 'LEASE_LOST');
}

/**
 * Leases in memory, judged by `now()` (tests, and replicas inside one process). Fenced writes
 * check {@link MemoryLeaseStore.holds} in the same synchronous step as they write.
 */
export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, { epoch: number; holder: string | null; expiresAt: number; renewedAt: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  async acquire(group: string, holder: string, ttlMs: number): Promise<{ acquired: boolean; lease: LeaseRecord }> {
    return this.acquireNow(group, holder, ttlMs);
  }

  /** {@link LeaseStore.acquire} as one synchronous step. */
  acquireNow(group: string, holder: string, ttlMs: number): { acquired: boolean; lease: LeaseRecord } {
    checkTtl(ttlMs);
    const now = this.now();
    const current = this.leases.get(group);
    // a live lease of another replica stays; this replica may take its own again (a new epoch)
    if (current && current.expiresAt > now && current.holder !== holder) return { acquired: false, lease: this.record(group)! };
    this.leases.set(group, { epoch: (current?.epoch ?? 0) + 1, holder, expiresAt: now + ttlMs, renewedAt: now });
    return { acquired: true, lease: this.record(group)! };
  }

  async renew(fence: Fence, ttlMs: number): Promise<boolean> {
    return this.renewNow(fence, ttlMs);
  }

  /** {@link LeaseStore.renew} as one synchronous step. */
  renewNow(fence: Fence, ttlMs: number): boolean {
    checkTtl(ttlMs);
    const current = this.leases.get(fence.group);
    if (!this.holds(fence) || !current) return false;
    const now = this.now();
    current.expiresAt = now + ttlMs;
    current.renewedAt = now;
    return true;
  }

  async release(fence: Fence): Promise<void> {
    const current = this.leases.get(fence.group);
    if (current && this.holds(fence)) current.expiresAt = this.now();
  }

  async read(group: string): Promise<LeaseRecord | null> {
    return this.readNow(group);
  }

  /** {@link LeaseStore.read} as one synchronous step. */
  readNow(group: string): LeaseRecord | null {
    return this.record(group);
  }

  /** True when the group is still at `fence`'s epoch and holder (expired or not: nobody newer took it). */
  holds(fence: Fence): boolean {
    const current = this.leases.get(fence.group);
    return current !== undefined && current.epoch === fence.epoch && current.holder === fence.holder;
  }

  private record(group: string): LeaseRecord | null {
    const current = this.leases.get(group);
    if (!current) return null;
    const now = this.now();
    return {
      group,
      epoch: current.epoch,
      holder: current.holder,
      expiresInMs: current.expiresAt - now,
      renewedAgoMs: now - current.renewedAt,
    };
  }
}

function checkTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw definite('CONFIG_INVALID', `lease time ${ttlMs} ms must be a positive number`);
}
