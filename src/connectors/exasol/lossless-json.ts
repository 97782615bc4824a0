/**
 * Lossless JSON for Exasol replies.
 *
 * Exasol writes DECIMAL(p ≤ 18, 0) values and session ids as bare JSON numbers that can exceed
 * 2^53, which `JSON.parse` would round. Instead of a slow hand-written parser, integer tokens
 * with 16 or more digits outside strings are turned into strings first; every DECIMAL reader
 * accepts a number or its text, so the value arrives exactly. Replies without such tokens (the
 * vast majority) go straight to `JSON.parse`.
 */

const LONG_DIGITS = /\d{16}/;

/** Parses an Exasol reply, keeping integers beyond 2^53 exact (as decimal strings). */
export function parseLosslessJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  return JSON.parse(quoteLongIntegers(text));
}

/** Wraps every integer token of 16+ digits that is not inside a string in quotes. */
export function quoteLongIntegers(text: string): string {
  const n = text.length;
  let out = '';
  let copiedTo = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i = skipString(text, i + 1);
      continue;
    }
    if ((c >= 0x30 && c <= 0x39) || c === 0x2d /* - */) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if ((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) j++;
        else break;
      }
      const token = text.slice(i, j);
      if (/^-?\d{16,}$/.test(token)) {
        out += text.slice(copiedTo, i) + '"' + token + '"';
        copiedTo = j;
      }
      i = j;
      continue;
    }
    i++;
  }
  return copiedTo === 0 ? text : out + text.slice(copiedTo);
}

/** Index just after the closing quote of a string whose body starts at `i`. */
function skipString(text: string, i: number): number {
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return text.length;
    let backslashes = 0;
    for (let k = q - 1; k >= i && text.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/** JSON text of a request. BigInts are written as raw digits (never needed in requests today, but safe). */
export function stringifyRequest(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
