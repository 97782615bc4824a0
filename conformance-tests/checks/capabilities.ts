/**
 * CAP: the declared capabilities are well-formed, constant, and agree with the target's claims.
 */
import { isDeepStrictEqual } from 'node:util';
import { check, CheckFailure } from '../assert.js';
import { CAPABILITY_NAMES, capabilityProblems } from '../capabilities.js';
import { makeRows } from '../test-table.js';
import { catchUp, consumerFor, defineCheck, writerFor } from './helpers.js';

export const capabilityChecks = [
  defineCheck({
    id: 'CAP-01',
    level: 'MUST',
    category: 'capabilities',
    rule: "`capabilities` is a complete, JSON-serialisable object, constant for the life of the source, and agrees with the target's claims.",
    method: 'Reads `capabilities` before use, after snapshot and changes, and after `close()`; compares with the claims of the target.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx);
      const before: unknown = consumer.source.capabilities;
      const problems = capabilityProblems(before);
      check(problems.length === 0, problems.join('; '));
      check(isDeepStrictEqual(JSON.parse(JSON.stringify(before)), before), 'capabilities do not survive a JSON round trip');
      await catchUp(consumer, writer, ctx);
      check(isDeepStrictEqual(consumer.source.capabilities, before), 'capabilities changed while the source was used');
      await consumer.source.close();
      check(isDeepStrictEqual(consumer.source.capabilities, before), 'capabilities changed after close()');
      const claims = ctx.target.capabilities ?? {};
      const declared = before as Record<string, unknown>;
      const mismatches = CAPABILITY_NAMES.filter((name) => claims[name] !== undefined && claims[name] !== declared[name]).map(
        (name) => `target claims ${name} = ${JSON.stringify(claims[name])}, source declares ${JSON.stringify(declared[name])}`,
      );
      if (mismatches.length > 0) {
        const failure = new CheckFailure(mismatches.join('; '));
        failure.contradicts = CAPABILITY_NAMES.filter((name) => claims[name] !== undefined && claims[name] !== declared[name]);
        throw failure;
      }
      ctx.note(`declared ${JSON.stringify(before)}`);
    },
  }),
];
