/**
 * A property test of the lease logic itself (Leadership over a lease store), in simulated time:
 * 2–4 replicas with clocks running at different rates (within the documented bound: at most
 * `maxClockDrift` slower than the store's clock) and offsets, random pauses (SIGSTOP: the clock
 * keeps running, the process does not), a store whose requests take time, fail before or after
 * they took effect, and a writer per replica that saves a fenced checkpoint while it leads.
 *
 * Checked for every history:
 * - at most one replica commits per epoch, and it is the one that acquired that epoch;
 * - commits are in epoch order (no commit of an older epoch after one of a newer epoch);
 * - at no instant do two replicas believe they lead (`Leadership.current`), paused ones included;
 * - once pauses and failures stop, a replica leads and commits again within a few lease times.
 *
 * A negative control runs the same simulation with clocks slower than the bound and expects
 * fast-check to find two replicas believing they lead at once: the third check can fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Leadership, type Clock } from '../../src/sdk/leadership.js';
import { MemoryLeaseStore, leaseLost, type Fence, type LeaseStore } from '../../src/sdk/lease.js';
import { abortError, transient } from '../../src/sdk/errors.js';

const LEASE_MS = 1000;
const DRIFT = 0.1;

/** A deterministic PRNG (mulberry32) for latencies and failures. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pause {
  start: number;
  length: number;
}

interface Scenario {
  replicas: Array<{ rate: number; offset: number; pauses: Pause[] }>;
  failure: number;
  maxLatency: number;
  seed: number;
}

/** Discrete-event time: events fire in time order; a paused replica's events wait for its pause to end. */
class World {
  time = 0;
  private seq = 0;
  private events: Array<{ at: number; seq: number; replica: number | null; fire: () => void }> = [];

  constructor(private readonly pauses: Pause[][]) {}

  pausedUntil(replica: number, at: number): number | null {
    for (const p of this.pauses[replica]!) if (at >= p.start && at < p.start + p.length) return p.start + p.length;
    return null;
  }

  at(replica: number | null, at: number, fire: () => void): () => void {
    const event = { at, seq: this.seq++, replica, fire };
    this.events.push(event);
    return () => {
      const i = this.events.indexOf(event);
      if (i >= 0) this.events.splice(i, 1);
    };
  }

  /** Runs events up to `until`, calling `check` after each one (once the promises it settled have run). */
  async run(until: number, check: () => void): Promise<void> {
    for (;;) {
      if (this.events.length === 0) return;
      let next = 0;
      for (let i = 1; i < this.events.length; i++) {
        const e = this.events[i]!;
        const n = this.events[next]!;
        if (e.at < n.at || (e.at === n.at && e.seq < n.seq)) next = i;
      }
      const event = this.events[next]!;
      if (event.at > until) return;
      this.events.splice(next, 1);
      this.time = event.at;
      const resume = event.replica === null ? null : this.pausedUntil(event.replica, event.at);
      if (resume !== null) {
        this.at(event.replica, resume, event.fire);
        continue;
      }
      event.fire();
      await new Promise((r) => setImmediate(r)); // every promise chain the event started runs now
      check();
    }
  }
}

interface Commit {
  at: number;
  epoch: number;
  replica: number;
}

/** Runs one scenario; returns what the checks need. */
async function simulate(s: Scenario, quietAt: number, endAt: number) {
  const world = new World(s.replicas.map((r) => r.pauses));
  const random = prng(s.seed);
  const store = new MemoryLeaseStore(() => world.time); // the store's clock is the reference
  const acquiredBy = new Map<number, number>();
  const commits: Commit[] = [];
  let stored: { epoch: number } | null = null;
  let overlaps = 0;
  let running = true;

  /** A request to the store: travels, takes effect (or not), answers (or not). */
  const request = <T>(replica: number, apply: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const disturbed = world.time < quietAt;
      const lost = disturbed && random() < s.failure ? (random() < 0.5 ? 'request' : 'answer') : null;
      const there = random() * s.maxLatency;
      const back = random() * s.maxLatency;
      world.at(null, world.time + there, () => {
        if (lost === 'request')
          return void world.at(replica, world.time + back, () => reject(transient('CONNECTION_LOST', 'lost on the way')));
        let result: T;
        try {
          result = apply();
        } catch (error) {
          return void world.at(replica, world.time + back, () => reject(error));
        }
        world.at(replica, world.time + back, () =>
          lost === 'answer' ? reject(transient('CONNECTION_LOST', 'answer lost')) : resolve(result),
        );
      });
    });

  const replicas = s.replicas.map((r, i) => {
    const clock: Clock = {
      now: () => r.offset + r.rate * world.time,
      sleep: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return reject(abortError(signal));
          const cancel = world.at(i, world.time + Math.max(0, ms) / r.rate, () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          });
          const onAbort = () => {
            cancel();
            reject(abortError(signal));
          };
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
    };
    const leases: LeaseStore = {
      acquire: (group, holder, ttl) =>
        request(i, () => {
          const result = store.acquireNow(group, holder, ttl);
          if (result.acquired) acquiredBy.set(result.lease.epoch, i);
          return result;
        }),
      renew: (fence, ttl) => request(i, () => store.renewNow(fence, ttl)),
      release: (fence) => request(i, () => void store.release(fence)),
      read: (group) => request(i, () => store.readNow(group)),
    };
    const leadership = new Leadership({ leases, group: 'g', replicaId: `r${i}`, leaseMs: LEASE_MS, maxClockDrift: DRIFT, clock, random });
    const save = (fence: Fence) =>
      request(i, () => {
        // what a fenced checkpoint save does at the store, in one step
        if (!store.holds(fence)) throw leaseLost(fence, 'not saved');
        if (stored && stored.epoch > fence.epoch) throw leaseLost(fence, 'a newer checkpoint exists');
        stored = { epoch: fence.epoch };
        commits.push({ at: world.time, epoch: fence.epoch, replica: i });
      });
    const writer = (async () => {
      while (running) {
        let term;
        try {
          term = await leadership.acquire();
        } catch {
          return;
        }
        while (running && term.active) {
          await save(term.fence).catch(() => undefined);
          await clock.sleep(random() * 80).catch(() => undefined);
        }
      }
    })();
    return { leadership, writer };
  });

  const check = () => {
    if (replicas.filter((r) => r.leadership.current !== null).length > 1) overlaps++;
  };
  await world.run(endAt, check);
  running = false;
  const closing = Promise.all(replicas.map((r) => r.leadership.close()));
  await world.run(Number.POSITIVE_INFINITY, () => {});
  await closing;
  await Promise.all(replicas.map((r) => r.writer));
  if (process.env.REFSTREAM_SIM_DEBUG) console.log(`commits ${commits.length}, epochs ${acquiredBy.size}, overlaps ${overlaps}`);
  return { commits, acquiredBy, overlaps };
}

const pausesArb = fc.array(fc.record({ start: fc.integer({ min: 0, max: 11_000 }), length: fc.integer({ min: 50, max: 3 * LEASE_MS }) }), {
  maxLength: 8,
});

function scenarioArb(minRate: number, maxRate: number): fc.Arbitrary<Scenario> {
  return fc.record({
    replicas: fc.array(
      fc.record({
        rate: fc.double({ min: minRate, max: maxRate, noNaN: true }),
        offset: fc.integer({ min: 0, max: 1_000_000 }),
        pauses: pausesArb,
      }),
      { minLength: 2, maxLength: 4 },
    ),
    failure: fc.double({ min: 0, max: 0.3, noNaN: true }),
    maxLatency: fc.integer({ min: 0, max: 60 }),
    seed: fc.integer(),
  });
}

const QUIET_AT = 12_000; // no pause starts and no request fails from here on
const END_AT = QUIET_AT + 6 * LEASE_MS;

test('lease logic: one writer per epoch, commits in epoch order, never two believed leaders, a leader again once things calm down', async () => {
  await fc.assert(
    fc.asyncProperty(scenarioArb(1 - DRIFT, 1 + DRIFT), async (s) => {
      const { commits, acquiredBy, overlaps } = await simulate(s, QUIET_AT, END_AT);
      for (const c of commits)
        assert.equal(
          c.replica,
          acquiredBy.get(c.epoch),
          `epoch ${c.epoch} committed by r${c.replica}, acquired by r${acquiredBy.get(c.epoch)}`,
        );
      for (let i = 1; i < commits.length; i++)
        assert.ok(commits[i]!.epoch >= commits[i - 1]!.epoch, `epoch ${commits[i]!.epoch} committed after epoch ${commits[i - 1]!.epoch}`);
      assert.equal(overlaps, 0, 'two replicas believed they lead at the same instant');
      const lastPauseEnd = Math.max(0, ...s.replicas.flatMap((r) => r.pauses.map((p) => p.start + p.length)));
      const calm = Math.max(QUIET_AT, lastPauseEnd);
      if (calm + 3 * LEASE_MS < END_AT)
        assert.ok(
          commits.some((c) => c.at > calm + 3 * LEASE_MS),
          `a leader commits within 3 lease times once things are calm (last commit at ${commits.at(-1)?.at ?? 'never'}, calm from ${calm})`,
        );
    }),
    { numRuns: 150 },
  );
});

test('negative control: clocks slower than the bound let two replicas believe they lead at once', async () => {
  const result = await fc.check(
    fc.asyncProperty(scenarioArb(0.5, 0.7), async (s) => {
      const { overlaps } = await simulate(s, QUIET_AT, END_AT);
      return overlaps === 0;
    }),
    { numRuns: 150 },
  );
  assert.equal(result.failed, true, 'the overlap check finds the violation when the bound does not hold');
});
