/**
 * The sink part of docs/conformance.md, rendered from the sink catalogue (generate-docs.ts
 * appends it; the docs drift test compares the whole file).
 */
import type { SinkCheck, SinkCategory } from './types.js';

const TITLES: Record<SinkCategory, string> = {
  delivery: 'Ordered delivery',
  values: 'Values',
  flush: 'Flush and close',
  schema: 'Schema changes',
  truncate: 'Truncate',
  snapshot: 'Snapshot restarts',
  replay: 'Replays after restore',
  isolation: 'Failure isolation',
  property: 'Generated sequences',
};

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function needs(check: SinkCheck): string {
  const parts = Object.entries(check.requires ?? {}).map(([k, v]) => `\`${k}: ${String(v)}\``);
  for (const hook of check.needsHarness ?? []) parts.push(`harness \`${hook}()\``);
  return parts.length === 0 ? '–' : parts.join(', ');
}

/** The lines of the sink section. */
export function renderSinkSection(list: readonly SinkCheck[]): string[] {
  const out: string[] = [
    '## Sink checks',
    '',
    'The sink suite (`refstream conformance --sink ./my-sink-target.js`, `registerSinkConformance(test, target)`',
    'or `runSinkConformance(target)`) drives a sink the way the sync runner does: `snapshotStart`, batches in',
    'order, `snapshotComplete`, `flush` then `checkpointState` at each commit, `close`. After a crash it does',
    'what the runner does: a new sink instance restored with the committed `checkpointState()` (a new process),',
    'or the same instance `reset()` and restored (a transient retry), and then the batches after the last',
    'commit delivered again with the positions they had. After each flush the suite reads the destination back',
    "through the target's `readBack()` and compares it with its own model of the stream; a failure names the",
    'first diverging key (in key order), both versions of its row, the step it happened at, and ends with',
    '`(replay: refstream conformance --sink <module> --only ID --seed N)`.',
    'See [authoring-a-connector.md](authoring-a-connector.md#writing-a-sink) for a sink target.',
    '',
    `### Sink catalogue (${list.length} checks)`,
    '',
    '| ID | Level | Needs | Rule |',
    '|---|---|---|---|',
    ...list.map((c) => `| ${c.id} | ${c.level} | ${needs(c)} | ${cell(c.rule)} |`),
    '',
    'A sink declares what it cannot do in `capabilities` (`addColumn`, `truncate`, both true by default). A',
    'check that needs the other value is skipped with a reason naming its counterpart, which verifies the',
    'refusal: a definite `ConnectorError` from `write()` or `flush()`, and the rows flushed before still intact.',
    '`quirks.emptyStringIsNull` makes the checks expect empty text back as NULL. SINK-12 needs the optional',
    'harness hook `interrupt()` (sever the destination, or make its next statement fail transiently); without',
    'it the check is skipped with that reason.',
    '',
    '### How each sink check works',
  ];
  for (const category of Object.keys(TITLES) as SinkCategory[]) {
    const inCategory = list.filter((c) => c.category === category);
    if (inCategory.length === 0) continue;
    out.push('', `#### ${TITLES[category]}`, '');
    for (const c of inCategory) out.push(`- **${c.id}** (${c.level}) — ${c.rule}`, `  *Method:* ${c.method}`);
  }
  out.push(
    '',
    '### Sinks of this project',
    '',
    '`npm test` runs the sink suite (`conformance-tests/sinks/sink-conformance.test.ts`) against every sink here;',
    'times of the whole suite per sink on the reference machine (2 shared cores, load ≈ 3.5), server start',
    'included (it falls in SINK-01):',
    '',
    '| Sink | Target module | Declares | Skipped | Time |',
    '|---|---|---|---|---|',
    '| MemorySink | `conformance-tests/targets/sinks/memory.ts` | – | SINK-05N, SINK-06N, SINK-12 (no `interrupt()`) | 0.5 s (100 property runs) |',
    '| JsonlSink (file) | `conformance-tests/targets/sinks/jsonl.ts` | – | SINK-05N, SINK-06N, SINK-12 | 1.2 s (40 runs) |',
    '| ArrowIpcSink (file) | `conformance-tests/targets/sinks/arrow-ipc.ts` | – | SINK-05N, SINK-06N, SINK-12 | 1.4 s (40 runs) |',
    '| KafkaSink (`json`, test broker) | `conformance-tests/targets/sinks/kafka.ts` | – | SINK-05N, SINK-06N, SINK-12 | 1.3 s (15 runs) |',
    '| PostgresTableSink (embedded PostgreSQL) | `conformance-tests/targets/sinks/postgres.ts` | – | SINK-05N, SINK-06N | 3.3 s (15 runs) |',
    '| ExasolTableSink (Exasol test server) | `conformance-tests/targets/sinks/exasol.ts` | `addColumn: true`, quirk `emptyStringIsNull` | SINK-05N, SINK-06N | 3.6 s (10 runs) |',
    '',
    'The self-test (`conformance-tests/sinks/self-test/`) plants faults in a correct reference sink — a dropped',
    'batch, rows of a batch applied in reverse, NULL stored as empty text, a flush that is not durable, a close',
    'that loses the last batch, a dropped added column, an added column accepted although declared unsupported,',
    'ignored truncates, an ignored snapshot restart, a replay stored as a second row, a restore that empties the',
    'destination, a lost connection thrown as a plain `Error` — and asserts that the targeted check fails each',
    'one with the first diverging key (where a row differs) and the replay options.',
    '',
  );
  return out;
}
