import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tsx = createRequire(import.meta.url).resolve('tsx');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} finishes the batch in flight, commits and exits cleanly`, { timeout: 30_000 }, async () => {
    const cpPath = join(mkdtempSync(join(tmpdir(), 'refstream-sig-')), 'cp.json');
    const child = spawn(process.execPath, ['--import', tsx, join(import.meta.dirname, 'fixtures/signal-sync.ts'), cpPath], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (c) => {
        out += c;
        if (out.includes('ready')) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 150)); // let changes flow (commit interval is 60 s)
    child.kill(signal);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 0);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
      stoppedBy: string;
      changeRows: number;
      commits: number;
      applied: string;
    };
    assert.equal(result.stoppedBy, 'signal');
    assert.ok(result.changeRows > 0);
    // the final commit covers every change the sink applied
    const saved = JSON.parse(readFileSync(cpPath, 'utf8')) as { checkpoint: { phase: string; position: { seq: number; index: number } } };
    assert.equal(saved.checkpoint.phase, 'changes');
    const appliedSeq = parseInt(result.applied.split('/')[0]!, 16);
    assert.equal(saved.checkpoint.position.seq, appliedSeq);
  });
}
