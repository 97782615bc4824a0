/**
 * A writer that keeps changing a database while a test kills and restarts refstream: one
 * connection running `step` again and again until stopped.
 */
import pg from 'pg';

export interface BackgroundWriter {
  /** Stops after the step in progress; resolves with the number of steps run. */
  stop(): Promise<number>;
}

/** Runs `step(client, n)` on its own connection every `pauseMs` (n counts from 0) until stopped. */
export function startBackgroundWriter(
  connectionString: string,
  step: (client: pg.Client, n: number) => Promise<void>,
  pauseMs = 5,
): BackgroundWriter {
  let running = true;
  let steps = 0;
  const done = (async () => {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      while (running) {
        await step(client, steps);
        steps++;
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    } finally {
      await client.end();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return steps;
    },
  };
}
