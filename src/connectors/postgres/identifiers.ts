/**
 * Safe SQL identifiers and literals, and parsing of `schema.table` names.
 *
 * Every identifier that reaches SQL text goes through {@link quoteIdent}; values go through
 * bind parameters where the protocol allows it and {@link quoteLiteral} where it does not
 * (replication commands have no parameters).
 */
import { createHash } from 'node:crypto';
import { definite } from '../../sdk/errors.js';

/** A table name split into schema and table, both in their exact (case-sensitive) form. */
export interface QualifiedName {
  readonly schema: string;
  readonly name: string;
}

/** Quotes an identifier: `a"b` → `"a""b"`. Rejects NUL, which PostgreSQL cannot store. */
export function quoteIdent(identifier: string): string {
  if (identifier.includes('\0')) throw definite('IDENTIFIER_INVALID', 'identifiers cannot contain NUL characters');
  return `"${identifier.replace(/"/g, '""')}"`;
}

/** Quotes a string literal: `it's` → `'it''s'` (standard_conforming_strings is on since 9.1). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw definite('IDENTIFIER_INVALID', 'literals cannot contain NUL characters');
  return `'${value.replace(/'/g, "''")}'`;
}

/** `schema.table`, each part quoted. */
export function quoteQualified(name: QualifiedName): string {
  return `${quoteIdent(name.schema)}.${quoteIdent(name.name)}`;
}

/** The display form used in batch metadata and errors: `schema.table` with parts quoted only when needed. */
export function displayName(name: QualifiedName): string {
  return `${displayPart(name.schema)}.${displayPart(name.name)}`;
}

function displayPart(part: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(part) ? part : quoteIdent(part);
}

/**
 * Parses `table`, `schema.table`, `"My Schema"."Weird ""Name"""`. Unquoted parts are folded to
 * lower case as PostgreSQL does; quoted parts are taken literally. Returns `undefined` when the
 * text is not a valid name (the caller reports it with the other config problems).
 */
export function parseQualifiedName(text: string, defaultSchema = 'public'): QualifiedName | undefined {
  const parts: string[] = [];
  let i = 0;
  const n = text.length;
  while (i <= n) {
    if (text[i] === '"') {
      let part = '';
      i++;
      for (;;) {
        if (i >= n) return undefined;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i++];
      }
      if (part === '') return undefined;
      parts.push(part);
    } else {
      let j = i;
      while (j < n && text[j] !== '.' && text[j] !== '"') j++;
      const part = text.slice(i, j).trim();
      if (!/^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*$/.test(part)) return undefined;
      parts.push(part.toLowerCase());
      i = j;
    }
    if (i === n) break;
    if (text[i] !== '.') return undefined;
    i++;
    if (i === n) return undefined;
  }
  if (parts.length === 1) return { schema: defaultSchema, name: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  return undefined;
}

/** Replication slot names may only contain lower case letters, digits and underscores (max 63). */
export function isValidSlotName(name: string): boolean {
  return /^[a-z0-9_]{1,63}$/.test(name);
}

/**
 * A slot/publication name derived from a table name: `refstream_<schema>_<table>`.
 *
 * Slot names allow only `[a-z0-9_]`, so other characters become `_` and upper case is folded,
 * and the `_` between schema and table is ambiguous when the schema has one. Such lossy names
 * get a hash of the exact schema and table (`public."Customers"` and `public.customers`, or
 * `a_b.c` and `a.b_c`, get names of their own). A schema of `[a-z0-9]` and a table of
 * `[a-z0-9_]` map one to one and keep the plain name, so existing slots are found again.
 */
export function defaultObjectName(prefix: string, name: QualifiedName): string {
  const raw = `${prefix}_${name.schema}_${name.name}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const lossless = /^[a-z0-9]+$/.test(name.schema) && /^[a-z0-9_]+$/.test(name.name);
  if (!lossless) {
    const hash = createHash('sha256')
      .update(JSON.stringify([name.schema, name.name]))
      .digest('hex')
      .slice(0, 8);
    return `${raw.slice(0, 63 - 9)}_${hash}`;
  }
  if (raw.length <= 63) return raw;
  // keep long names unique when truncating them
  let hash = 0;
  for (let k = 0; k < raw.length; k++) hash = (hash * 31 + raw.charCodeAt(k)) >>> 0;
  return `${raw.slice(0, 54)}_${hash.toString(16).padStart(8, '0')}`;
}
