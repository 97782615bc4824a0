/**
 * Reading and advancing the Kafka source's {@link StreamState}: which positions a partition
 * has already delivered (replays), how far each partition is known to be complete
 * (watermarks), and where a truncate left the table.
 */
import type { StreamState } from './source-checkpoint.js';

/** A replay (at or below the partition's highest position) or a change the last truncate superseded. */
export function isStale(state: StreamState, partition: number, position: string): boolean {
  return isReplay(state, partition, position) || (state.truncatedAt !== null && position <= state.truncatedAt);
}

/** Records a watermark: the partition holds nothing at or below `position` that is still to come. */
export function noteFrontier(state: StreamState, partition: number, position: string): void {
  const frontier = state.frontier.get(partition);
  if (frontier === undefined || position > frontier) state.frontier.set(partition, position);
}

/** True when the partition already delivered `position` or a later one (the writer replayed after a crash). */
export function isReplay(state: StreamState, partition: number, position: string): boolean {
  const high = state.high.get(partition);
  return high !== undefined && position <= high;
}

/** Raises the partition's highest delivered position to `position`. */
export function notePosition(state: StreamState, partition: number, position: string): void {
  const high = state.high.get(partition);
  if (high === undefined || position > high) state.high.set(partition, position);
}
