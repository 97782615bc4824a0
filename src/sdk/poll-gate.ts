/**
 * "One poll at a time" for a source: a poll started while another is still running is
 * refused with `BUSY`, so batches are never interleaved, lost or delivered twice.
 */
import { definite } from './errors.js';

/**
 * Lets one poll of a source run at a time. A second poll started while the first is in flight
 * rejects at once with the definite `BUSY` (it does not wait for its turn and changes nothing),
 * the behaviour the conformance check LIFE-06 accepts besides queueing.
 *
 * ```ts
 * private readonly gate = new PollGate(this.table);
 *
 * async pollSnapshot(opts: PollOptions = {}): Promise<RecordBatch | null> {
 *   return this.gate.run(() => this.nextSnapshotBatch(opts));
 * }
 * ```
 *
 * The gate knows nothing of the source's lifecycle: checks such as `CLOSED` belong to the
 * source, before or inside the poll it runs.
 */
export class PollGate {
  private inFlight = false;

  /** @param table - the table named in the `BUSY` error */
  constructor(private readonly table: string) {}

  /** True while a poll runs. */
  get busy(): boolean {
    return this.inFlight;
  }

  /**
   * Runs `poll` as the only poll in flight and settles like it. Rejects with the definite
   * `BUSY`, without calling `poll`, while another poll runs. The gate opens again when `poll`
   * settles, whether it resolved or rejected.
   */
  async run<T>(poll: () => Promise<T>): Promise<T> {
    if (this.inFlight) {
      throw definite('BUSY', `another poll of ${this.table} is still running`, {
        table: this.table,
        hint: 'await each poll before starting the next',
      });
    }
    this.inFlight = true;
    try {
      return await poll();
    } finally {
      this.inFlight = false;
    }
  }
}
