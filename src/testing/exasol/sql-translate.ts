/**
 * The Exasol → PostgreSQL translation layer. It is deliberately small and token based, not a
 * SQL parser; docs/testing/exasol-test-server.md lists what it covers. The rules:
 *
 * - Unquoted identifiers fold to UPPER case (as Exasol does) and are emitted as quoted
 *   upper-case PostgreSQL identifiers; quoted identifiers pass through unchanged.
 * - Keywords and function names stay unquoted; a few Exasol functions are rewritten
 *   (HASH_MD5, HASH_SHA256/512, HASHTYPE_MD5/SHA256/512, NVL, SYSDATE, SYSTIMESTAMP, CURRENT_SCHEMA).
 * - The literal `''` becomes NULL: in Exasol the empty string is NULL.
 * - Exasol types in CREATE TABLE / ALTER TABLE ADD / CAST become their PostgreSQL storage
 *   types (see exasol-types.ts); the Exasol types are recorded in the server catalog.
 * - `LIMIT offset, count` becomes `LIMIT count OFFSET offset`; `MINUS` becomes `EXCEPT`.
 * - MERGE's `UPDATE … WHERE c` / `DELETE WHERE c` / `INSERT … WHERE c` become PostgreSQL's
 *   `WHEN [NOT] MATCHED AND c THEN …`, and qualified SET targets lose their qualifier.
 */
import { tokenize, significant, quoteIdent, quoteLiteral, matchingParen, wordAt, type Token } from './sql-tokens.js';
import { parseExasolType, postgresTypeOf, type ExasolType } from './exasol-types.js';

/** A table named in a statement; `schema` is undefined when unqualified. */
export interface TableRef {
  schema?: string;
  table: string;
}

/** A column of CREATE TABLE with its Exasol type. */
export interface DeclaredColumn {
  name: string;
  type: ExasolType;
}

/** What an Exasol statement means to the server. */
export type TranslatedStatement =
  | { kind: 'openSchema'; schema: string }
  | { kind: 'closeSchema' }
  | { kind: 'commit' }
  | { kind: 'rollback' }
  | { kind: 'alterSession'; name: string; value: string }
  | { kind: 'export'; tokens: Token[] }
  | { kind: 'import'; tokens: Token[] }
  | { kind: 'createSchema'; schema: string; sql: string }
  | { kind: 'dropSchema'; schema: string; sql: string }
  | {
      kind: 'sql';
      sql: string;
      writes: TableRef[];
      declared?: { table: TableRef; columns: DeclaredColumn[] };
      ddl: boolean;
      /** Table DDL the catalog must follow. */
      tableAction?: 'create' | 'drop' | 'alter';
    };

/** Raised for statements the translation layer rejects; becomes Exasol error 42000. */
export class TranslationError extends Error {}

const KEYWORDS = new Set(
  `SELECT FROM WHERE AND OR NOT NULL IS IN EXISTS BETWEEN LIKE ILIKE ESCAPE AS ON JOIN INNER LEFT RIGHT FULL OUTER CROSS
  NATURAL USING GROUP BY HAVING ORDER ASC DESC NULLS LIMIT OFFSET UNION ALL INTERSECT EXCEPT MINUS DISTINCT CASE WHEN
  THEN ELSE END CAST INSERT INTO VALUES UPDATE SET DELETE MERGE MATCHED CREATE TABLE DROP ALTER ADD COLUMN SCHEMA IF
  CASCADE RESTRICT PRIMARY KEY FOREIGN REFERENCES CONSTRAINT UNIQUE DEFAULT CHECK TRUNCATE VIEW REPLACE WITH RECURSIVE
  TRUE FALSE UNKNOWN CURRENT_DATE CURRENT_TIMESTAMP LOCALTIMESTAMP INTERVAL YEAR MONTH DAY HOUR MINUTE SECOND TO TIME
  ZONE LOCAL OVER PARTITION ROWS RANGE PRECEDING FOLLOWING UNBOUNDED CURRENT ROW WINDOW FETCH NEXT FIRST LAST ONLY
  RENAME ANY SOME SIMILAR DATE TIMESTAMP DECIMAL NUMERIC DOUBLE PRECISION VARCHAR CHAR CHARACTER VARYING BOOLEAN BOOL
  INT INTEGER BIGINT SMALLINT TINYINT FLOAT REAL HASHTYPE GEOMETRY BYTE BIT UTF8 ASCII NUMBER COMMIT ROLLBACK WORK
  LATERAL FOR OF NO ACTION ENABLE DISABLE FILTER RETURNING EXTRACT SYSDATE SYSTIMESTAMP AT ENFORCE COLUMNS CURRENT_SCHEMA`.split(/\s+/),
);

/** Words after which a following `(` belongs to a table name, not a function call. */
const TABLE_INTRODUCERS = new Set(['INTO', 'TABLE', 'EXISTS', 'VIEW', 'REFERENCES']);

const KEYWORD_REWRITES: Record<string, string> = {
  MINUS: 'EXCEPT',
  SYSDATE: 'CURRENT_DATE',
  SYSTIMESTAMP: 'LOCALTIMESTAMP',
  // The session search_path is "<schema>", "SYS"; with no schema open Exasol returns NULL.
  CURRENT_SCHEMA: "nullif(current_schema, 'SYS')",
};

const utf8 = (inner: string) => `convert_to(concat(${inner}),'UTF8')`;
const FUNCTION_REWRITES: Record<string, (inner: string) => string> = {
  HASH_MD5: (inner) => `md5(concat(${inner}))`,
  HASH_SHA256: (inner) => `encode(sha256(${utf8(inner)}),'hex')`,
  HASH_SHA512: (inner) => `encode(sha512(${utf8(inner)}),'hex')`,
  HASHTYPE_MD5: (inner) => `md5(concat(${inner}))::uuid`,
  HASHTYPE_SHA256: (inner) => `sha256(${utf8(inner)})`,
  HASHTYPE_SHA512: (inner) => `sha512(${utf8(inner)})`,
  NVL: (inner) => `coalesce(${inner})`,
  NOW: () => 'LOCALTIMESTAMP',
};

/** Classifies and translates one Exasol statement. */
export function translateStatement(sqlText: string): TranslatedStatement {
  let all: Token[];
  try {
    all = tokenize(sqlText);
  } catch (error) {
    throw new TranslationError((error as Error).message);
  }
  // A trailing semicolon is allowed; more than one statement is not.
  while (all.length && (all[all.length - 1].text === ';' || all[all.length - 1].kind === 'space' || all[all.length - 1].kind === 'comment'))
    all.pop();
  const tokens = significant(all);
  if (tokens.length === 0) throw new TranslationError('empty statement');
  if (tokens.some((t) => t.text === ';')) throw new TranslationError('only one statement per execute is allowed');
  const w = (i: number) => wordAt(tokens, i);

  if (w(0) === 'OPEN' && w(1) === 'SCHEMA') return { kind: 'openSchema', schema: identifierName(tokens[2]) };
  if (w(0) === 'CLOSE' && w(1) === 'SCHEMA') return { kind: 'closeSchema' };
  if (w(0) === 'COMMIT' && tokens.length <= 2) return { kind: 'commit' };
  if (w(0) === 'ROLLBACK' && tokens.length <= 2) return { kind: 'rollback' };
  if (w(0) === 'ALTER' && w(1) === 'SESSION' && w(2) === 'SET') {
    const value = tokens[5];
    return { kind: 'alterSession', name: w(3) ?? '', value: value?.kind === 'string' ? value.value : (value?.text ?? '') };
  }
  if (w(0) === 'EXPORT') return { kind: 'export', tokens: all };
  if (w(0) === 'IMPORT') return { kind: 'import', tokens: all };
  if (w(0) === 'CREATE' && w(1) === 'SCHEMA') {
    const ifNotExists = w(2) === 'IF';
    const name = identifierName(tokens[ifNotExists ? 5 : 2]);
    return { kind: 'createSchema', schema: name, sql: `CREATE SCHEMA ${ifNotExists ? 'IF NOT EXISTS ' : ''}${quoteIdent(name)}` };
  }
  if (w(0) === 'DROP' && w(1) === 'SCHEMA') {
    const ifExists = w(2) === 'IF';
    const name = identifierName(tokens[ifExists ? 4 : 2]);
    const cascade = tokens.some((t) => t.kind === 'word' && t.value === 'CASCADE');
    return {
      kind: 'dropSchema',
      schema: name,
      sql: `DROP SCHEMA ${ifExists ? 'IF EXISTS ' : ''}${quoteIdent(name)}${cascade ? ' CASCADE' : ''}`,
    };
  }
  if (w(0) === 'CREATE' && (w(1) === 'TABLE' || (w(1) === 'OR' && w(2) === 'REPLACE' && w(3) === 'TABLE'))) {
    return translateCreateTable(tokens);
  }
  if (w(0) === 'COMMENT' && w(1) === 'ON' && (w(2) === 'COLUMN' || w(2) === 'TABLE')) {
    return { kind: 'sql', sql: `COMMENT ON ${w(2)} ${translateTokens(tokens, 3)}`, writes: [], ddl: true };
  }
  if (w(0) === 'ALTER' && w(1) === 'TABLE') {
    const modify = translateModifyColumn(tokens);
    if (modify) return modify;
  }
  const prepared = w(0) === 'MERGE' ? rewriteMerge(tokens) : w(0) === 'UPDATE' ? unqualifySetTargets(tokens) : tokens;
  const tableAction = w(1) === 'TABLE' ? (w(0) === 'DROP' ? 'drop' : w(0) === 'ALTER' ? 'alter' : undefined) : undefined;
  return { kind: 'sql', sql: translateTokens(prepared), writes: writeTargets(tokens), ddl: isDdl(w(0)), tableAction };
}

/**
 * `ALTER TABLE t MODIFY [COLUMN] c <type>` (Exasol's way to change a column's type) as
 * PostgreSQL's `ALTER COLUMN c TYPE … USING c::…`, with the new Exasol type for the catalog.
 */
function translateModifyColumn(tokens: Token[]): TranslatedStatement | undefined {
  const { ref, end } = readTableRef(tokens, 2);
  if (wordAt(tokens, end) !== 'MODIFY') return undefined;
  const at = wordAt(tokens, end + 1) === 'COLUMN' ? end + 2 : end + 1;
  const column = identifierName(tokens[at]);
  const parsed = parseExasolType(tokens, at + 1);
  if (!parsed) throw new TranslationError(`MODIFY COLUMN ${column}: a column type expected`);
  const rest = tokens.slice(parsed.end).filter((t) => !(t.kind === 'punct' && t.text === ';'));
  if (rest.length > 0) throw new TranslationError(`MODIFY COLUMN ${column}: only a new type is supported, found ${rest[0]!.text}`);
  const pgType = postgresTypeOf(parsed.type);
  const table = ref.schema === undefined ? quoteIdent(ref.table) : `${quoteIdent(ref.schema)}.${quoteIdent(ref.table)}`;
  return {
    kind: 'sql',
    sql: `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(column)} TYPE ${pgType} USING ${quoteIdent(column)}::${pgType}`,
    writes: [ref],
    declared: { table: ref, columns: [{ name: column, type: parsed.type }] },
    ddl: true,
    tableAction: 'alter',
  };
}

function isDdl(first: string | undefined): boolean {
  return first === 'CREATE' || first === 'DROP' || first === 'ALTER' || first === 'TRUNCATE' || first === 'RENAME' || first === 'COMMENT';
}

/** The name an identifier token denotes (folded to upper case unless quoted). */
export function identifierName(token: Token | undefined): string {
  if (!token) throw new TranslationError('identifier expected');
  if (token.kind === 'quoted') return token.value;
  if (token.kind === 'word') return token.value;
  throw new TranslationError(`identifier expected, found ${token.text}`);
}

/** Reads `name` or `schema.name` at `i`; returns the reference and the next index. */
export function readTableRef(tokens: Token[], i: number): { ref: TableRef; end: number } {
  const first = identifierName(tokens[i]);
  if (tokens[i + 1]?.text === '.' && tokens[i + 2]) return { ref: { schema: first, table: identifierName(tokens[i + 2]) }, end: i + 3 };
  return { ref: { table: first }, end: i + 1 };
}

/** The tables a statement writes (for LAST_COMMIT tracking). */
export function writeTargets(tokens: Token[]): TableRef[] {
  const w = (i: number) => wordAt(tokens, i);
  let at: number | undefined;
  if (w(0) === 'INSERT' && w(1) === 'INTO') at = 2;
  else if (w(0) === 'UPDATE') at = 1;
  else if (w(0) === 'DELETE' && w(1) === 'FROM') at = 2;
  else if (w(0) === 'DELETE') at = 1;
  else if (w(0) === 'MERGE' && w(1) === 'INTO') at = 2;
  else if (w(0) === 'IMPORT' && w(1) === 'INTO') at = 2;
  else if (w(0) === 'TRUNCATE' && w(1) === 'TABLE') at = 2;
  else if ((w(0) === 'DROP' || w(0) === 'ALTER') && w(1) === 'TABLE') at = w(2) === 'IF' ? 4 : 2;
  else if (w(0) === 'CREATE') {
    const t = tokens.findIndex((tok) => tok.kind === 'word' && tok.value === 'TABLE');
    if (t > 0) at = w(t + 1) === 'IF' ? t + 4 : t + 1;
  }
  if (at === undefined || !tokens[at]) return [];
  try {
    return [readTableRef(tokens, at).ref];
  } catch {
    return [];
  }
}

/** Translates a run of significant tokens (keeping the original spacing) to PostgreSQL. */
export function translateTokens(tokens: Token[], from = 0, to = tokens.length): string {
  const out: string[] = [];
  const castDepths: number[] = [];
  let depth = 0;
  for (let i = from; i < to; i++) {
    const token = tokens[i];
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    const gap = i > from && spaceBetween(prev, token) ? ' ' : '';
    let text: string;
    if (token.kind === 'string') {
      text = token.value === '' ? 'NULL' : quoteLiteral(token.value);
    } else if (token.kind === 'punct') {
      if (token.text === '(') depth++;
      if (token.text === ')') {
        if (castDepths[castDepths.length - 1] === depth) castDepths.pop();
        depth--;
      }
      text = token.text;
    } else if (token.kind === 'word') {
      const v = token.value;
      const inTypePosition =
        (prev?.kind === 'word' && prev.value === 'AS' && castDepths[castDepths.length - 1] === depth) ||
        (isIdentifierToken(prev) && tokens[i - 2]?.kind === 'word' && ['ADD', 'COLUMN', 'MODIFY'].includes(tokens[i - 2].value));
      const parsedType = inTypePosition ? parseExasolType(tokens, i) : undefined;
      if (parsedType) {
        out.push(gap + postgresTypeOf(parsedType.type));
        i = parsedType.end - 1;
        continue;
      }
      // PostgreSQL timestamps stop at microseconds, so TIMESTAMP(7–9) columns are stored as
      // text: a literal with more digits must reach them untyped, or the cast would round it.
      if (v === 'TIMESTAMP' && !qualifiedWord(prev, next) && next?.kind === 'string' && NANOSECOND_LITERAL.test(next.value)) continue;
      if (v === 'LIMIT' && tokens[i + 2]?.text === ',' && tokens[i + 1]?.kind === 'number' && tokens[i + 3]?.kind === 'number') {
        out.push(`${gap}LIMIT ${tokens[i + 3].text} OFFSET ${tokens[i + 1].text}`);
        i += 3;
        continue;
      }
      const qualified = prev?.text === '.' || next?.text === '.';
      if (!qualified && next?.text === '(' && FUNCTION_REWRITES[v] && !TABLE_INTRODUCERS.has(prev?.value ?? '')) {
        const close = matchingParen(tokens, i + 1);
        if (close < 0) throw new TranslationError('unbalanced parentheses');
        out.push(gap + FUNCTION_REWRITES[v](translateTokens(tokens, i + 2, close)));
        i = close;
        continue;
      }
      if (!qualified && KEYWORDS.has(v)) {
        if (v === 'CAST' && next?.text === '(') castDepths.push(depth + 1);
        text = KEYWORD_REWRITES[v] ?? token.text;
      } else if (!qualified && next?.text === '(' && !TABLE_INTRODUCERS.has(prev?.kind === 'word' ? prev.value : '')) {
        text = token.text.toLowerCase(); // a function call
      } else {
        text = quoteIdent(v);
      }
    } else {
      text = token.text;
    }
    out.push(gap + text);
  }
  return out.join('');
}

const NANOSECOND_LITERAL = /\d\d:\d\d:\d\d\.\d{7,9}\s*$/;

function qualifiedWord(prev: Token | undefined, next: Token | undefined): boolean {
  return prev?.text === '.' || next?.text === '.';
}

function isIdentifierToken(token: Token | undefined): boolean {
  return !!token && (token.kind === 'quoted' || (token.kind === 'word' && !KEYWORDS.has(token.value)));
}

function spaceBetween(a: Token | undefined, b: Token): boolean {
  if (!a) return false;
  // Tokens adjacent in the source stay adjacent; synthetic or reordered tokens get a space.
  return a.offset < 0 || b.offset < 0 || a.offset + a.text.length !== b.offset;
}

/** CREATE [OR REPLACE] TABLE with Exasol column types → PostgreSQL, remembering the types. */
function translateCreateTable(tokens: Token[]): TranslatedStatement {
  const w = (i: number) => wordAt(tokens, i);
  const orReplace = w(1) === 'OR';
  let i = orReplace ? 4 : 2;
  const ifNotExists = w(i) === 'IF';
  if (ifNotExists) i += 3;
  const { ref, end } = readTableRef(tokens, i);
  const target = ref.schema ? `${quoteIdent(ref.schema)}.${quoteIdent(ref.table)}` : quoteIdent(ref.table);
  const prefix = (orReplace ? `DROP TABLE IF EXISTS ${target}; ` : '') + `CREATE TABLE ${ifNotExists ? 'IF NOT EXISTS ' : ''}${target}`;
  if (tokens[end]?.text !== '(') {
    // CREATE TABLE … AS SELECT / LIKE: types come from PostgreSQL.
    return { kind: 'sql', sql: `${prefix} ${translateTokens(tokens, end)}`, writes: [ref], ddl: true, tableAction: 'create' };
  }
  const close = matchingParen(tokens, end);
  if (close < 0) throw new TranslationError('unbalanced parentheses in CREATE TABLE');
  const elements: string[] = [];
  const columns: DeclaredColumn[] = [];
  let start = end + 1;
  let depth = 0;
  for (let k = end + 1; k <= close; k++) {
    const t = tokens[k];
    if (t.text === '(') depth++;
    if (t.text === ')' && k !== close) depth--;
    if ((t.text === ',' && depth === 0) || k === close) {
      const element = translateTableElement(tokens, start, k, columns);
      if (element) elements.push(element);
      start = k + 1;
    }
  }
  const rest = translateTokens(tokens, close + 1);
  return {
    kind: 'sql',
    sql: `${prefix} (${elements.join(', ')})${rest ? ' ' + rest : ''}`,
    writes: [ref],
    declared: { table: ref, columns },
    ddl: true,
    tableAction: 'create',
  };
}

function translateTableElement(tokens: Token[], from: number, to: number, columns: DeclaredColumn[]): string | undefined {
  const first = tokens[from];
  if (!first) return undefined;
  if (first.kind === 'word' && ['DISTRIBUTE', 'PARTITION'].includes(first.value)) return undefined; // Exasol-only
  if (first.kind === 'word' && ['CONSTRAINT', 'PRIMARY', 'FOREIGN', 'UNIQUE', 'CHECK', 'LIKE'].includes(first.value)) {
    return translateTokens(stripEnforcement(tokens.slice(from, to)));
  }
  const name = identifierName(first);
  const parsed = parseExasolType(tokens, from + 1);
  if (!parsed) throw new TranslationError(`unknown data type for column ${name}`);
  columns.push({ name, type: parsed.type });
  let tail = tokens.slice(parsed.end, to);
  // Exasol column options without a PostgreSQL counterpart.
  tail = tail.filter((t) => !(t.kind === 'word' && t.value === 'IDENTITY'));
  const comment = tail.findIndex((t, k) => t.kind === 'word' && t.value === 'COMMENT' && tail[k + 1]?.value === 'IS');
  if (comment >= 0) tail.splice(comment, 3);
  const translatedTail = translateTokens(stripEnforcement(tail));
  return `${quoteIdent(name)} ${postgresTypeOf(parsed.type)}${translatedTail ? ' ' + translatedTail : ''}`;
}

/** Drops Exasol's `ENABLE`/`DISABLE` constraint states. */
function stripEnforcement(tokens: Token[]): Token[] {
  return tokens.filter((t) => !(t.kind === 'word' && (t.value === 'ENABLE' || t.value === 'DISABLE')));
}

/** Rewrites Exasol MERGE clauses into PostgreSQL MERGE clauses (PostgreSQL ≥ 15). */
function rewriteMerge(tokens: Token[]): Token[] {
  const whenAt: number[] = [];
  let depth = 0;
  tokens.forEach((t, k) => {
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    else if (depth === 0 && t.kind === 'word' && t.value === 'WHEN') whenAt.push(k);
  });
  if (whenAt.length === 0) return tokens;
  const out: Token[] = tokens.slice(0, whenAt[0]);
  const clauses = whenAt.map((start, n) => tokens.slice(start, whenAt[n + 1] ?? tokens.length));
  const pieces: Token[][] = [];
  for (const clause of clauses) {
    const then = clause.findIndex((t) => t.kind === 'word' && t.value === 'THEN');
    const head = clause.slice(0, then);
    let action = clause.slice(then + 1);
    const isUpdate = action[0]?.value === 'UPDATE';
    // UPDATE … [WHERE c] [DELETE WHERE d]: Exasol deletes updated rows matching d.
    let deleteCondition: Token[] | undefined;
    const del = topLevelIndex(action, 'DELETE');
    if (isUpdate && del > 0) {
      deleteCondition = action.slice(del + 2);
      action = action.slice(0, del);
    }
    const where = topLevelIndex(action, 'WHERE');
    const condition = where >= 0 ? action.slice(where + 1) : undefined;
    if (where >= 0) action = action.slice(0, where);
    if (isUpdate) action = unqualifySetTargets(action);
    const and = condition ? [synthetic('AND'), synthetic('('), ...condition, synthetic(')')] : [];
    if (deleteCondition) {
      pieces.push([...head, synthetic('AND'), synthetic('('), ...deleteCondition, synthetic(')'), synthetic('THEN'), synthetic('DELETE')]);
    }
    pieces.push([...head, ...and, synthetic('THEN'), ...action]);
  }
  return [...out, ...pieces.flat()];
}

function topLevelIndex(tokens: Token[], word: string): number {
  let depth = 0;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    else if (depth === 0 && t.kind === 'word' && t.value === word) return k;
  }
  return -1;
}

/** `SET t.a = …` → `SET a = …` (PostgreSQL rejects qualified SET targets). */
function unqualifySetTargets(tokens: Token[]): Token[] {
  const set = topLevelIndex(tokens, 'SET');
  if (set < 0) return tokens;
  const out = tokens.slice(0, set + 1);
  let depth = 0;
  let expectTarget = true;
  for (let k = set + 1; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.text === '(') depth++;
    if (t.text === ')') depth--;
    if (expectTarget && depth === 0 && tokens[k + 1]?.text === '.' && tokens[k + 3]?.text === '=') {
      k += 1; // skip qualifier and dot; the column name follows
      expectTarget = false;
      continue;
    }
    if (depth === 0 && t.text === ',') expectTarget = true;
    else if (depth === 0 && t.text === '=') expectTarget = false;
    if (depth === 0 && t.kind === 'word' && t.value === 'WHERE') expectTarget = false;
    out.push(t);
  }
  return out;
}

let syntheticOffset = -1_000_000;
/** A token that did not come from the source; spaced on both sides. */
function synthetic(text: string): Token {
  syntheticOffset -= 10;
  return { kind: text === '(' || text === ')' ? 'punct' : 'word', text, value: text.toUpperCase(), offset: syntheticOffset };
}
