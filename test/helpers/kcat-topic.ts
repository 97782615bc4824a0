/**
 * A topic as kcat (librdkafka, a consumer independent of refstream) reads it, and folded by key
 * as a KTable consumer folds it: what the Kafka CLI tests compare with the source table.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One record as kcat -J prints it, headers as a map. */
export interface TopicRecord {
  partition: number;
  key: string | null;
  payload: string | null;
  headers: Record<string, string>;
}

/** Options of {@link readTopic}. */
export interface ReadTopicOptions {
  isolation?: 'read_committed' | 'read_uncommitted';
  /** Only records with a timestamp from then on (ms since the epoch). */
  sinceMs?: number;
}

/** Every record of `topic` (to its end now), as `options.isolation` (default read_committed) sees it. */
export async function readTopic(bootstrapServers: string, topic: string, options: ReadTopicOptions = {}): Promise<TopicRecord[]> {
  const args = [
    '-C',
    '-b',
    bootstrapServers,
    '-t',
    topic,
    '-e',
    '-J',
    '-q',
    '-X',
    `isolation.level=${options.isolation ?? 'read_committed'}`,
  ];
  if (options.sinceMs !== undefined) args.push('-o', `s@${options.sinceMs}`);
  const { stdout } = await run('kcat', args, { maxBuffer: 256 << 20 });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const r = JSON.parse(l) as { partition: number; key: string | null; payload: string | null; headers?: string[] };
      const headers: Record<string, string> = {};
      const h = r.headers ?? [];
      for (let i = 0; i + 1 < h.length; i += 2) headers[h[i]!] = h[i + 1]!;
      return { partition: r.partition, key: r.key, payload: r.payload, headers };
    });
}

/** The data records folded by their key's `id` (last value wins, tombstones delete), control records left out. */
export function foldById(records: readonly TopicRecord[]): Map<string, Record<string, unknown>> {
  const state = new Map<string, Record<string, unknown>>();
  for (const r of records) {
    if (r.headers['refstream-control'] !== undefined) continue;
    const id = (JSON.parse(r.key!) as { id: string }).id;
    if (r.payload === null) state.delete(id);
    else state.set(id, JSON.parse(r.payload) as Record<string, unknown>);
  }
  return state;
}
