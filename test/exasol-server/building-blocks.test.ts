/** Unit tests of the server's building blocks: lossless JSON, value encoding, CSV, RSA login. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { RawJsonNumber, writeJson } from '../../src/testing/exasol/json.js';
import { encodeColumn, formatInterval, formatTimestamp, StoredResultSet } from '../../src/testing/exasol/result-sets.js';
import { DEFAULT_CSV_OPTIONS, formatCsv, parseCsv } from '../../src/testing/exasol/csv.js';
import { LoginKeyPair } from '../../src/testing/exasol/rsa-login.js';
import { maskCredentials } from '../../src/testing/exasol/transcript.js';

test('writeJson keeps bigint and raw numbers digit-exact', () => {
  assert.equal(
    writeJson({ a: 2n ** 70n, b: new RawJsonNumber('999999999999999999'), c: [1.5, null, 'x', true], d: undefined }),
    '{"a":1180591620717411303424,"b":999999999999999999,"c":[1.5,null,"x",true]}',
  );
});

test('DECIMAL values: numbers for p ≤ 18 and s = 0, strings otherwise, scale from data when unconstrained', () => {
  const format = { timestampFractionDigits: 6 };
  assert.equal(
    writeJson(encodeColumn({ type: 'DECIMAL', precision: 18, scale: 0 }, ['-123456789012345678'], format).values),
    '[-123456789012345678]',
  );
  assert.deepEqual(encodeColumn({ type: 'DECIMAL', precision: 10, scale: 3 }, ['1.5'], format).values, ['1.500']);
  const derived = encodeColumn({ type: 'DECIMAL', precision: 36, scale: 0, scaleFromData: true }, ['1.25', '3', null], format);
  assert.deepEqual(derived.type, { type: 'DECIMAL', precision: 36, scale: 2 });
  assert.deepEqual(derived.values, ['1.25', '3.00', null]);
});

test('timestamp and interval text', () => {
  assert.equal(formatTimestamp('2024-01-02 03:04:05.5+00', 6), '2024-01-02 03:04:05.500000');
  assert.equal(formatTimestamp('2024-01-02 03:04:05', 9), '2024-01-02 03:04:05.000000000');
  assert.equal(formatTimestamp('2024-01-02 03:04:05.123456', 0), '2024-01-02 03:04:05');
  assert.equal(formatInterval({ type: 'INTERVAL YEAR TO MONTH', precision: 2 }, 'P-1Y-2M'), '-01-02');
  assert.equal(formatInterval({ type: 'INTERVAL DAY TO SECOND', precision: 3, fraction: 3 }, 'P-3DT-4H-5M-6.5S'), '-003 04:05:06.500');
  assert.equal(formatInterval({ type: 'INTERVAL DAY TO SECOND', precision: 2, fraction: 0 }, 'PT36H'), '+01 12:00:00');
});

test('fetch slices return at least one row and stay within the byte budget', () => {
  const rs = new StoredResultSet(
    [{ name: 'A', type: { type: 'VARCHAR', size: 100 } }],
    Array.from({ length: 10 }, (_, k) => ['x'.repeat(10) + k]),
  );
  assert.equal(rs.fetch(0, 1).numRows, 1);
  assert.equal(rs.fetch(0, 40).numRows, 2);
  assert.deepEqual(rs.fetch(9, 1000), { numRows: 1, data: [['xxxxxxxxxx9']] });
  assert.deepEqual(rs.fetch(10, 1000), { numRows: 0, data: [[]] });
});

test('CSV round trip: delimiters, doubled quotes, embedded row separators, NULL marker', () => {
  const options = { ...DEFAULT_CSV_OPTIONS, nullValue: '\\N', rowSeparator: '\r\n' };
  const rows = [
    ['a,b', 'say "x"', null],
    ['line\nbreak', '', 'plain'],
  ];
  const csv = formatCsv(rows, undefined, options);
  assert.equal(csv.toString(), '"a,b","say ""x""",\\N\r\n"line\nbreak",,plain\r\n');
  assert.deepEqual(parseCsv(csv, options), [
    ['a,b', 'say "x"', null],
    ['line\nbreak', null, 'plain'],
  ]);
  assert.deepEqual(parseCsv(Buffer.from('h1,h2\n1,2\n'), { ...DEFAULT_CSV_OPTIONS, skip: 1 }), [['1', '2']]);
});

test('the login key decrypts PKCS#1 v1.5 passwords and rejects garbage without throwing', () => {
  const keys = new LoginKeyPair();
  const key = createPublicKey(keys.publicKey.publicKeyPem);
  const cipher = publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('pä55wörd'));
  assert.equal(keys.decryptPassword(cipher.toString('base64')), 'pä55wörd');
  assert.equal(keys.decryptPassword(Buffer.alloc(128, 7).toString('base64')), undefined);
  assert.equal(keys.decryptPassword('not base64'), undefined);
});

test('credentials are masked in transcripts', () => {
  assert.equal(maskCredentials('{"username":"sys","password":"c2VjcmV0\\"x"}'), '{"username":"sys","password":"***"}');
  assert.equal(maskCredentials('{"refreshToken":"abc"}'), '{"refreshToken":"***"}');
});
