/**
 * The RSA part of Exasol's login: a 1024-bit key pair whose public half goes to the client
 * (PKCS#1 PEM plus upper-case hex modulus/exponent), and decryption of the PKCS#1 v1.5
 * encrypted password the client sends back.
 *
 * Node ≥ 20.11 refuses `RSA_PKCS1_PADDING` in `privateDecrypt` (CVE-2023-46809 hardening), so
 * the raw RSA operation runs with `RSA_NO_PADDING` and the v1.5 block is unpadded here.
 */
import { constants, generateKeyPairSync, privateDecrypt, type KeyObject } from 'node:crypto';

/** What the server sends in reply to `{"command":"login"}`. */
export interface LoginPublicKey {
  publicKeyPem: string;
  publicKeyModulus: string;
  publicKeyExponent: string;
}

/** A per-server login key pair. */
export class LoginKeyPair {
  private readonly privateKey: KeyObject;
  readonly publicKey: LoginPublicKey;

  constructor() {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 0x10001 });
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    this.publicKey = {
      publicKeyPem: publicKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      publicKeyModulus: base64UrlToHex(jwk.n!),
      publicKeyExponent: base64UrlToHex(jwk.e!)
        .replace(/^0+(?=..)/, '')
        .padStart(6, '0'),
    };
  }

  /**
   * Decrypts a base64 PKCS#1 v1.5 ciphertext. Returns `undefined` for anything malformed, so a
   * bad ciphertext is indistinguishable from a wrong password.
   */
  decryptPassword(base64Ciphertext: string): string | undefined {
    try {
      const cipher = Buffer.from(base64Ciphertext, 'base64');
      if (cipher.length !== 128) return undefined;
      const block = privateDecrypt({ key: this.privateKey, padding: constants.RSA_NO_PADDING }, cipher);
      return unpadPkcs1Type2(block)?.toString('utf8');
    } catch {
      return undefined;
    }
  }
}

/** EM = 0x00 || 0x02 || PS (≥ 8 non-zero bytes) || 0x00 || M  (RFC 8017 §7.2.2). */
function unpadPkcs1Type2(block: Buffer): Buffer | undefined {
  if (block[0] !== 0x00 || block[1] !== 0x02) return undefined;
  const separator = block.indexOf(0x00, 2);
  if (separator < 10) return undefined;
  return block.subarray(separator + 1);
}

function base64UrlToHex(value: string): string {
  return Buffer.from(value, 'base64url').toString('hex').toUpperCase();
}
