/**
 * The committed docs/conformance.md must match the catalogue
 * (regenerate with `node --import tsx conformance-tests/generate-docs.ts`).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { checks } from './catalogue.js';
import { DOCS_PATH, renderConformanceDoc } from './generate-docs.js';
import { sinkChecks } from './sinks/catalogue.js';

test('docs/conformance.md is up to date with the check catalogue', async () => {
  const committed = await readFile(DOCS_PATH, 'utf8').catch(() => '');
  assert.ok(
    committed === renderConformanceDoc(),
    'docs/conformance.md is stale: run `node --import tsx conformance-tests/generate-docs.ts`',
  );
});

test('check IDs are unique and well-formed, and every check states its rule and method', () => {
  const ids = checks.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, 'duplicate check IDs');
  for (const c of checks) {
    assert.match(c.id, /^[A-Z]+-\d{2}N?$/, c.id);
    assert.ok(c.rule.length > 10 && c.method.length > 10, `${c.id} lacks a rule or method`);
    if (c.counterpart) assert.ok(ids.includes(c.counterpart), `${c.id} names unknown counterpart ${c.counterpart}`);
  }
});

test('sink check IDs are unique and well-formed, every sink check states its rule and method, counterparts exist', () => {
  const ids = sinkChecks.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, 'duplicate sink check IDs');
  for (const c of sinkChecks) {
    assert.match(c.id, /^SINK-\d{2}N?$/, c.id);
    assert.ok(c.rule.length > 10 && c.method.length > 10, `${c.id} lacks a rule or method`);
    if (c.counterpart) assert.ok(ids.includes(c.counterpart), `${c.id} names unknown counterpart ${c.counterpart}`);
  }
});
