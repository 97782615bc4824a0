/**
 * The binary COPY decoder reads the protocol bytes as the socket delivers them (CopyOut): it is
 * independent of how the socket splits the stream (rows and message headers cut at any byte
 * boundary decode to the same batch), batch limits cut batches between rows, notices the server
 * sends during a COPY are skipped, and a COPY that fails midway raises the server's error and
 * leaves the connection usable.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { BatchBuilder } from '../../src/sdk/batch.js';
import { Catalog } from '../../src/connectors/postgres/catalog.js';
import { CopyDecoder } from '../../src/connectors/postgres/copy-decoder.js';
import { CopyOut } from '../../src/connectors/postgres/copy-out.js';
import { numericToText, type ColumnCodec } from '../../src/connectors/postgres/types.js';
import { PG_VERSIONS, jsonRows } from './helpers.js';

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: COPY binary decoder`, () => {
    let server: TestPostgres;
    let client: pg.Client;
    let raw: Buffer;
    let codecs: ColumnCodec[];
    const descriptor = () => ({ table: 'public.mixed', primaryKey: ['id'], fields: codecs.map((c) => c.field) });

    before(async () => {
      server = await startPostgres({ version });
      client = new pg.Client({ connectionString: server.connectionString });
      await client.connect();
      await client.query(
        `CREATE TABLE mixed (id int8 PRIMARY KEY, t text, n numeric(12,2), ts timestamptz, b bool, a int4[], u uuid, f float8)`,
      );
      await client.query(`INSERT INTO mixed SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE repeat('é', g % 40) END, g / 7.0, now(), g % 2 = 0,
        CASE WHEN g % 3 = 0 THEN NULL ELSE ARRAY[g, NULL, -g]::int4[] END, md5(g::text)::uuid, g * 1.5 FROM generate_series(1, 300) g`);
      const catalog = new Catalog(client, 'public.mixed');
      const table = await catalog.loadTable({ schema: 'public', name: 'mixed' });
      codecs = await catalog.codecs(table.columns, table.display);
      raw = await copyOut(`COPY (SELECT ctid, * FROM mixed) TO STDOUT (FORMAT binary)`);
    });

    const copyOut = async (sql: string): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const chunk of client.query(new CopyOut(sql)) as AsyncIterable<Buffer>) chunks.push(chunk);
      return Buffer.concat(chunks);
    };
    after(async () => {
      await client.end();
      await server.stop();
    });

    const decodeAll = (parts: Buffer[], maxRows = 1_000_000): unknown[][][] => {
      const decoder = new CopyDecoder(codecs, true, 'public.mixed');
      const builder = new BatchBuilder(descriptor(), 'snapshot');
      const batches: unknown[][][] = [];
      for (const part of parts) {
        decoder.feed(part);
        while (decoder.decode(builder, maxRows, 1 << 30) === 'full') batches.push(jsonRows(builder.finish()));
      }
      assert.equal(decoder.ended, true);
      if (builder.rows > 0) batches.push(jsonRows(builder.finish()));
      return batches;
    };

    it('decodes the same rows whatever the chunking', () => {
      const whole = decodeAll([raw]).flat();
      assert.equal(whole.length, 300);
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: raw.length - 1 }), { maxLength: 40 }), (cuts) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const parts: Buffer[] = [];
          let last = 0;
          for (const p of points) {
            parts.push(raw.subarray(last, p));
            last = p;
          }
          parts.push(raw.subarray(last));
          assert.deepEqual(decodeAll(parts).flat(), whole);
        }),
        { numRuns: 200 },
      );
      // one byte at a time
      assert.deepEqual(decodeAll([...raw].map((b) => Buffer.from([b]))).flat(), whole);
    });

    it('cuts batches at batchRows without losing or repeating rows', () => {
      const batches = decodeAll([raw.subarray(0, 1000), raw.subarray(1000)], 64);
      assert.deepEqual(
        batches.map((b) => b.length),
        [64, 64, 64, 64, 44],
      );
      assert.deepEqual(
        batches.flat().map((r) => r[0]),
        Array.from({ length: 300 }, (_, i) => String(i + 1)),
      );
    });

    it('CopyOut passes the COPY through and hands back what follows it, however the socket splits it', { timeout: 60_000 }, async () => {
      // what follows CopyDone on the wire: CommandComplete "COPY 300", ReadyForQuery idle
      const tag = Buffer.from('COPY 300\0');
      const complete = Buffer.concat([Buffer.from([0x43]), Buffer.from([0, 0, 0, 4 + tag.length]), tag]);
      const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
      const wire = Buffer.concat([raw, complete, ready]);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 30 }), async (cuts) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const socket = new PassThrough();
          const handedBack: Buffer[] = [];
          socket.on('data', (chunk: Buffer) => handedBack.push(chunk));
          const copy = new CopyOut('COPY …');
          copy.submit({ stream: socket, query: () => {} } as unknown as Parameters<CopyOut['submit']>[0]);
          let last = 0;
          for (const p of [...points, wire.length]) {
            socket.write(wire.subarray(last, p));
            last = p;
          }
          const passed: Buffer[] = [];
          const ended = (async () => {
            for await (const chunk of copy as AsyncIterable<Buffer>) passed.push(chunk);
          })();
          const stuck = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the COPY stream did not end')), 2000));
          await Promise.race([ended, stuck]);
          await new Promise((r) => setImmediate(r));
          assert.deepEqual(Buffer.concat(passed), raw, 'the COPY part, up to and including CopyDone');
          assert.deepEqual(Buffer.concat(handedBack), Buffer.concat([complete, ready]), 'the rest goes back to pg');
        }),
        // a broken framing waits out the 2 s guard per run: report the first failure, do not shrink
        { numRuns: 100, endOnFailure: true },
      );
    });

    it('skips the notices a server sends during a COPY', async () => {
      await client.query(
        `CREATE OR REPLACE FUNCTION noisy(i int8) RETURNS int8 LANGUAGE plpgsql AS $$ BEGIN IF i % 100 = 0 THEN RAISE NOTICE 'row %', i; END IF; RETURN i; END $$`,
      );
      const framed = await copyOut(
        `COPY (SELECT ctid, id, t, n, ts, b, a, u, f FROM mixed WHERE noisy(id) = id) TO STDOUT (FORMAT binary)`,
      );
      assert.ok(framed.includes(Buffer.from('row 100')), 'the notices are in the stream');
      const rows = decodeAll([framed]).flat();
      assert.equal(rows.length, 300);
      assert.deepEqual(rows, decodeAll([raw]).flat());
    });

    it('raises the error of a COPY that fails midway, and the connection goes on', async () => {
      await assert.rejects(
        copyOut(
          `COPY (SELECT ctid, id, CASE WHEN id = 250 THEN (1 / (id - 250))::text ELSE t END, n, ts, b, a, u, f FROM mixed ORDER BY id) TO STDOUT (FORMAT binary)`,
        ),
        (e: unknown) => (e as { code?: string }).code === '22012',
      );
      const { rows } = await client.query('SELECT count(*)::int AS n FROM mixed');
      assert.equal(rows[0].n, 300);
      assert.equal((await copyOut(`COPY (SELECT ctid, * FROM mixed) TO STDOUT (FORMAT binary)`)).length, raw.length);
    });

    it('renders unconstrained numerics exactly as PostgreSQL prints them', async () => {
      const values = [
        '0',
        '-0.5',
        '123456789012345678901234567890.123456789',
        '0.000001',
        '10000',
        '1e-20',
        '-99999999999999999999',
        'NaN',
      ];
      for (const v of values) {
        // the value in binary form, taken from a binary COPY: 19-byte header, field count, length, bytes
        const chunks: Buffer[] = [];
        const stream = client.query(copyStreams.to(`COPY (SELECT '${v}'::numeric) TO STDOUT (FORMAT binary)`));
        for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
        const copy = Buffer.concat(chunks);
        const [{ t }] = (await client.query(`SELECT '${v}'::numeric::text AS t`)).rows;
        assert.equal(numericToText(copy, 19 + 2 + 4), t, v);
      }
    });
  });
}
