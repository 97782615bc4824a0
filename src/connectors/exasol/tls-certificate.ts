/**
 * Self-signed X.509 certificates for TLS endpoints: the HTTP-transport tunnel (where the client is the TLS server) and the test server.
 *
 * Node can parse certificates but not create them, and the test server must not depend on an
 * `openssl` binary, so the few DER structures needed are written here (RFC 5280).
 */
import { createHash, generateKeyPair, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';

/** A certificate with its key and the two fingerprints Exasol clients pin. */
export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the DER certificate, upper-case hex (the WebSocket DSN fingerprint). */
  fingerprint: string;
  /** `sha256//` + base64 SHA-256 of the DER SubjectPublicKeyInfo (the `PUBLIC KEY` pin). */
  publicKeyPin: string;
}

/** Creates an RSA-2048 self-signed certificate valid for the given IPs and `localhost`. */
export function createSelfSignedCertificate(
  commonName = 'refstream-exasol-test',
  ips: string[] = ['127.0.0.1'],
  keys: { publicKey: KeyObject; privateKey: KeyObject } = generateKeyPairSync('rsa', { modulusLength: 2048 }),
): SelfSignedCertificate {
  const { publicKey, privateKey } = keys;
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const sha256WithRsa = sequence(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const name = sequence(set(sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))));
  const now = Date.now();
  const validity = sequence(utcTime(new Date(now - 86_400_000)), utcTime(new Date(now + 365 * 86_400_000)));
  const altNames = sequence(tlv(0x82, Buffer.from('localhost')), ...ips.map((ip) => tlv(0x87, Buffer.from(ip.split('.').map(Number)))));
  const extensions = tlv(0xa3, sequence(sequence(oid('2.5.29.17'), tlv(0x04, altNames))));
  const serial = tlv(
    0x02,
    Buffer.concat([
      Buffer.from([0x01]),
      createHash('sha1')
        .update(String(now) + Math.random())
        .digest()
        .subarray(0, 8),
    ]),
  );
  const tbs = sequence(tlv(0xa0, tlv(0x02, Buffer.from([0x02]))), serial, sha256WithRsa, name, validity, name, spki, extensions);
  const signature = sign('sha256', tbs, privateKey);
  const der = sequence(tbs, sha256WithRsa, tlv(0x03, Buffer.concat([Buffer.from([0x00]), signature])));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim()}\n-----END CERTIFICATE-----\n`;
  new X509Certificate(certPem); // fails loudly if the encoding above is ever wrong
  return {
    certPem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    fingerprint: createHash('sha256').update(der).digest('hex').toUpperCase(),
    publicKeyPin: publicKeyPin(spki),
  };
}

/** Like {@link createSelfSignedCertificate}, generating the key in the thread pool instead of blocking the event loop. */
export async function createSelfSignedCertificateAsync(commonName: string, ips: string[] = ['127.0.0.1']): Promise<SelfSignedCertificate> {
  const keys = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: 2048 }, (error, publicKey, privateKey) =>
      error ? reject(error) : resolve({ publicKey, privateKey }),
    ),
  );
  return createSelfSignedCertificate(commonName, ips, keys);
}

/** The `PUBLIC KEY 'sha256//…'` pin of a DER SubjectPublicKeyInfo. */
export function publicKeyPin(spkiDer: Buffer): string {
  return `sha256//${createHash('sha256').update(spkiDer).digest('base64')}`;
}

function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length;
  let header: Buffer;
  if (length < 0x80) header = Buffer.from([tag, length]);
  else if (length < 0x100) header = Buffer.from([tag, 0x81, length]);
  else if (length < 0x10000) header = Buffer.from([tag, 0x82, length >> 8, length & 0xff]);
  else throw new Error('DER element too long');
  return Buffer.concat([header, content]);
}

function sequence(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [parts[0] * 40 + parts[1]];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    for (let rest = part >> 7; rest > 0; rest >>= 7) chunk.unshift((rest & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function utcTime(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return tlv(0x17, Buffer.from(text, 'ascii'));
}
