/**
 * Snapshot arithmetic of trigger capture (no server): visibility as `pg_visible_in_snapshot`
 * defines it, `covers` as "every transaction visible in b is visible in a" checked against
 * visibility over every xid, and epoch keys that grow with time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { covers, epochKey, parsePgSnapshot, visibleIn, type PgSnapshot } from '../../src/connectors/postgres/trigger/pg-snapshot.js';

const seed = Number(process.env.REFSTREAM_PROPERTY_SEED ?? 20261207);

test('parsePgSnapshot reads xmin:xmax:xip and refuses anything else', () => {
  const s = parsePgSnapshot('10:20:15,12');
  assert.equal(s.xmin, 10n);
  assert.equal(s.xmax, 20n);
  assert.deepEqual(s.xip, [12n, 15n]);
  assert.deepEqual(parsePgSnapshot('7:7:').xip, []);
  for (const bad of ['', '1:2', '2:1:', '1:5:6', '1:5:0', 'a:b:', '1:5:2,,3']) assert.throws(() => parsePgSnapshot(bad), RangeError, bad);
});

test('visibleIn: below xmin yes, at or past xmax no, in xip no', () => {
  const s = parsePgSnapshot('10:20:12,15');
  assert.deepEqual(
    [9n, 10n, 11n, 12n, 15n, 19n, 20n, 21n].map((x) => visibleIn(x, s)),
    [true, true, true, false, false, true, false, false],
  );
});

/** A random history of one server: transactions start (get the next xid) and end in any order; snapshots are taken in between. */
const history = fc
  .array(fc.oneof(fc.constant<'start'>('start'), fc.nat(20), fc.constant<'snap'>('snap')), { minLength: 1, maxLength: 60 })
  .map((steps) => {
    let next = 100n;
    const running: bigint[] = [];
    const snapshots: PgSnapshot[] = [];
    for (const step of steps) {
      if (step === 'start') running.push(next++);
      else if (step === 'snap') {
        const xip = [...running].sort((a, b) => (a < b ? -1 : 1));
        const xmin = xip[0] ?? next;
        snapshots.push(parsePgSnapshot(`${xmin}:${next}:${xip.join(',')}`));
      } else if (running.length > 0) running.splice(step % running.length, 1);
    }
    return { snapshots, next };
  });

test('covers(a, b) is exactly "every xid visible in b is visible in a"; later snapshots cover earlier ones and have larger or equal epoch keys', () => {
  fc.assert(
    fc.property(history, ({ snapshots, next }) => {
      for (let i = 0; i < snapshots.length; i++) {
        for (let j = 0; j < snapshots.length; j++) {
          const a = snapshots[i]!;
          const b = snapshots[j]!;
          let expected = true;
          for (let x = 90n; x <= next + 2n; x++) if (visibleIn(x, b) && !visibleIn(x, a)) expected = false;
          assert.equal(covers(a, b), expected, `covers(${a.text}, ${b.text})`);
          if (i >= j) {
            assert.ok(covers(a, b), `a later snapshot ${a.text} covers an earlier one ${b.text}`);
            assert.ok(epochKey(a) >= epochKey(b), `epoch keys grow: ${a.text} after ${b.text}`);
            // equal keys only for snapshots that show the same transactions as ended
            if (epochKey(a) === epochKey(b)) assert.ok(covers(b, a), `${a.text} and ${b.text} share a key`);
          }
        }
      }
    }),
    { seed, numRuns: 300 },
  );
});
