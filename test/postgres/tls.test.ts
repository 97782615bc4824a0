/**
 * TLS: a server that accepts only TLS connections (`hostssl` in pg_hba.conf), a certificate
 * made for the test. Snapshot and replication both go over TLS, a certificate is verified
 * when a CA is given, and a client without TLS gets a clear error without the password.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectorError } from '../../src/sdk/errors.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PG_VERSIONS, drainSnapshot, pollChanges, sourceFor, uniqueName } from './helpers.js';

const PASSWORD = 'tls-test-pw-5521';

/** A self-signed certificate for 127.0.0.1 and localhost, readable only by the server's user. */
function makeCertificate(dir: string, owner: { uid: number; gid: number }): { cert: string; key: string; pem: string } {
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  for (const f of [cert, key]) chownSync(f, owner.uid, owner.gid);
  execFileSync('chmod', ['600', key]);
  return { cert, key, pem: readFileSync(cert, 'utf8') };
}

for (const version of PG_VERSIONS.slice(0, 1)) {
  describe(`postgres ${version}: TLS`, () => {
    let pg: TestPostgres;
    let dir: string;
    let pem: string;

    before(async () => {
      // The server starts first (plain), then gets a certificate and TLS-only rules and reloads.
      pg = await startPostgres({ version, password: PASSWORD });
      const owner = statSync(pg.dataDir);
      dir = mkdtempSync(join(tmpdir(), 'refstream-tls-'));
      chownSync(dir, owner.uid, owner.gid);
      const made = makeCertificate(dir, owner);
      pem = made.pem;
      await pg.query(`ALTER SYSTEM SET ssl_cert_file = '${made.cert}'`);
      await pg.query(`ALTER SYSTEM SET ssl_key_file = '${made.key}'`);
      await pg.query(`ALTER SYSTEM SET ssl = on`);
      await pg.query('SELECT pg_reload_conf()');
      // Wait until the reload took effect, then allow TLS connections only.
      for (let i = 0; i < 50 && (await pg.query<{ ssl: string }>('SHOW ssl'))[0]!.ssl !== 'on'; i++)
        await new Promise((r) => setTimeout(r, 100));
      writeFileSync(
        join(pg.dataDir, 'pg_hba.conf'),
        `local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl replication all 127.0.0.1/32 scram-sha-256\n`,
      );
      await pg.query('SELECT pg_reload_conf()').catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
    });

    after(async () => {
      await pg?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const tlsUrl = (mode: string) => `${pg.connectionString}?sslmode=${mode}`;

    it('a client without TLS is refused with a clear error and no password', async () => {
      const t = uniqueName('tls_plain');
      const source = sourceFor(pg, t, { connectionString: pg.connectionString });
      await assert.rejects(source.pollSnapshot(), (e: unknown) => {
        assert.ok(ConnectorError.is(e), String(e));
        assert.equal(e.code, 'AUTHENTICATION_FAILED');
        assert.match(e.hint ?? '', /only TLS/);
        assert.doesNotMatch(`${e.message} ${e.hint ?? ''}`, new RegExp(PASSWORD));
        return true;
      });
      await source.close().catch(() => undefined);
    });

    it('snapshot and changes flow over verified TLS (ssl.ca), and the walsender connection is encrypted', async () => {
      const t = uniqueName('tls_ok');
      const admin = new (await import('pg')).default.Client({ connectionString: pg.connectionString, ssl: { ca: pem } });
      await admin.connect();
      try {
        await admin.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, name text)`);
        await admin.query(`INSERT INTO ${t} SELECT g, 'n' || g FROM generate_series(1, 500) g`);
        const source = sourceFor(pg, t, { ssl: { ca: pem, servername: 'localhost' } });
        try {
          const batches = await drainSnapshot(source);
          assert.equal(
            batches.reduce((n, b) => n + b.numRows, 0),
            500,
          );
          await admin.query(`INSERT INTO ${t} VALUES (501, 'new')`);
          const changes = await pollChanges(source, 1);
          assert.equal(changes[0]!.type, 'insert');
          const rows = await admin.query<{ ssl: boolean; backend_type: string }>(
            `SELECT s.ssl, a.backend_type FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1`,
            [(source.config as { applicationName: string }).applicationName],
          );
          assert.ok(
            rows.rows.some((r) => r.backend_type === 'walsender'),
            'a walsender of the source is connected',
          );
          assert.ok(
            rows.rows.every((r) => r.ssl === true),
            `every connection of the source uses TLS: ${JSON.stringify(rows.rows)}`,
          );
        } finally {
          await source.close({ dropSlot: true });
        }
      } finally {
        await admin.end();
      }
    });

    it('sslmode=no-verify in the URL works; a certificate that does not verify is a definite error naming TLS', async () => {
      const t = uniqueName('tls_url');
      const admin = new (await import('pg')).default.Client({ connectionString: tlsUrl('no-verify') });
      await admin.connect();
      try {
        await admin.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY)`);
        await admin.query(`INSERT INTO ${t} VALUES (1), (2)`);
      } finally {
        await admin.end();
      }
      const ok = sourceFor(pg, t, { connectionString: tlsUrl('no-verify') });
      try {
        assert.equal(
          (await drainSnapshot(ok)).reduce((n, b) => n + b.numRows, 0),
          2,
        );
      } finally {
        await ok.close({ dropSlot: true });
      }
      // Verification against the system CAs fails for a self-signed certificate.
      const strict = sourceFor(pg, t, { ssl: { rejectUnauthorized: true } });
      await assert.rejects(strict.pollSnapshot(), (e: unknown) => {
        assert.ok(ConnectorError.is(e), String(e));
        assert.equal(e.code, 'TLS_FAILED');
        assert.match(e.message, /certificate/i);
        assert.match(e.hint ?? '', /ssl: \{ ca \}/);
        assert.doesNotMatch(`${e.message} ${e.hint ?? ''}`, new RegExp(PASSWORD));
        return true;
      });
      await strict.close().catch(() => undefined);
    });
  });
}
