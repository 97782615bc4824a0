/**
 * Parsing of `EXPORT … INTO CSV AT … FILE …` and `IMPORT INTO … FROM CSV AT … FILE …` into
 * what the HTTP transport needs: the source query (already translated to PostgreSQL) or target
 * table, one target per `AT` with its files and optional `PUBLIC KEY` pin, and the CSV options.
 */
import { significant, matchingParen, quoteIdent, wordAt, type Token } from './sql-tokens.js';
import { identifierName, readTableRef, translateTokens, TranslationError, type TableRef } from './sql-translate.js';
import { DEFAULT_CSV_OPTIONS, encodingOf, rowSeparatorOf, separatorOf, type CsvOptions } from './csv.js';

/** One `AT 'url' [PUBLIC KEY 'pin'] FILE 'a' [FILE 'b' …]` clause. */
export interface TransportTarget {
  url: string;
  publicKeyPin?: string;
  files: string[];
}

export interface ExportStatement {
  kind: 'export';
  /** PostgreSQL query producing the rows. */
  query: string;
  targets: TransportTarget[];
  csv: CsvOptions;
  replace: boolean;
}

export interface ImportStatement {
  kind: 'import';
  table: TableRef;
  columns?: string[];
  targets: TransportTarget[];
  csv: CsvOptions;
}

export function parseExport(all: Token[]): ExportStatement {
  const tokens = significant(all);
  let i = 1;
  let query: string;
  if (tokens[i]?.text === '(') {
    const close = matchingParen(tokens, i);
    if (close < 0) throw new TranslationError('unbalanced parentheses in EXPORT');
    query = translateTokens(tokens, i + 1, close);
    i = close + 1;
  } else {
    const { ref, end } = readTableRef(tokens, i);
    i = end;
    let columns = '*';
    if (tokens[i]?.text === '(') {
      const close = matchingParen(tokens, i);
      columns = tokens
        .slice(i + 1, close)
        .filter((t) => t.text !== ',')
        .map((t) => quoteIdent(identifierName(t)))
        .join(', ');
      i = close + 1;
    }
    query = `SELECT ${columns} FROM ${ref.schema ? quoteIdent(ref.schema) + '.' : ''}${quoteIdent(ref.table)}`;
  }
  expectWords(tokens, i, ['INTO', 'CSV']);
  const parsed = parseTargetsAndOptions(tokens, i + 2);
  return { kind: 'export', query, targets: parsed.targets, csv: parsed.csv, replace: parsed.replace };
}

export function parseImport(all: Token[]): ImportStatement {
  const tokens = significant(all);
  expectWords(tokens, 1, ['INTO']);
  const { ref, end } = readTableRef(tokens, 2);
  let i = end;
  let columns: string[] | undefined;
  if (tokens[i]?.text === '(') {
    const close = matchingParen(tokens, i);
    columns = tokens
      .slice(i + 1, close)
      .filter((t) => t.text !== ',')
      .map((t) => identifierName(t));
    i = close + 1;
  }
  expectWords(tokens, i, ['FROM', 'CSV']);
  const parsed = parseTargetsAndOptions(tokens, i + 2);
  return { kind: 'import', table: ref, columns, targets: parsed.targets, csv: parsed.csv };
}

function expectWords(tokens: Token[], at: number, words: string[]): void {
  words.forEach((word, k) => {
    const t = tokens[at + k];
    if (!t || t.kind !== 'word' || t.value !== word) {
      const found = t ? t.text : 'end of statement';
      throw new TranslationError(
        word === 'CSV'
          ? `only CSV files are supported by the test server (found ${found})`
          : `syntax error, unexpected ${found}, expecting ${word}`,
      );
    }
  });
}

function parseTargetsAndOptions(tokens: Token[], start: number): { targets: TransportTarget[]; csv: CsvOptions; replace: boolean } {
  const targets: TransportTarget[] = [];
  const csv: CsvOptions = { ...DEFAULT_CSV_OPTIONS };
  let replace = false;
  const w = (k: number) => wordAt(tokens, k);
  const str = (k: number): string => {
    if (tokens[k]?.kind !== 'string') throw new TranslationError(`string literal expected near ${tokens[k]?.text ?? 'end of statement'}`);
    return tokens[k].value;
  };
  /** Reads `= 'value'` after an option name ending at `k`. */
  const optionValue = (k: number): [string, number] => {
    if (tokens[k]?.text !== '=') throw new TranslationError(`'=' expected near ${tokens[k]?.text ?? 'end of statement'}`);
    return [tokens[k + 1]?.kind === 'string' ? tokens[k + 1].value : (tokens[k + 1]?.text ?? ''), k + 2];
  };
  let i = start;
  while (i < tokens.length) {
    const word = w(i);
    if (word === 'AT') {
      const target: TransportTarget = { url: str(i + 1), files: [] };
      i += 2;
      if (w(i) === 'USER') i += 5; // USER 'u' IDENTIFIED BY 'p'
      if (w(i) === 'PUBLIC' && w(i + 1) === 'KEY') {
        target.publicKeyPin = str(i + 2);
        i += 3;
      }
      while (w(i) === 'FILE') {
        target.files.push(str(i + 1));
        i += 2;
      }
      if (target.files.length === 0) throw new TranslationError('FILE expected after AT');
      targets.push(target);
    } else if (word === 'ENCODING') {
      const [v, next] = optionValue(i + 1);
      csv.encoding = encodingOf(v);
      i = next;
    } else if (word === 'NULL') {
      [csv.nullValue, i] = optionValue(i + 1);
    } else if (word === 'ROW' && w(i + 1) === 'SEPARATOR') {
      const [v, next] = optionValue(i + 2);
      csv.rowSeparator = rowSeparatorOf(v);
      i = next;
    } else if (word === 'COLUMN' && w(i + 1) === 'SEPARATOR') {
      const [v, next] = optionValue(i + 2);
      csv.columnSeparator = separatorOf(v);
      i = next;
    } else if (word === 'COLUMN' && w(i + 1) === 'DELIMITER') {
      [csv.columnDelimiter, i] = optionValue(i + 2);
    } else if (word === 'DELIMIT') {
      const [v, next] = optionValue(i + 1);
      csv.delimit = v.toUpperCase() as CsvOptions['delimit'];
      i = next;
    } else if (word === 'BOOLEAN') {
      const [v, next] = optionValue(i + 1);
      [csv.booleanTrue, csv.booleanFalse] = v.split('/');
      i = next;
    } else if (word === 'SKIP') {
      const [v, next] = optionValue(i + 1);
      csv.skip = Number(v);
      i = next;
    } else if (word === 'WITH' && w(i + 1) === 'COLUMN' && w(i + 2) === 'NAMES') {
      csv.withColumnNames = true;
      i += 3;
    } else if (word === 'TRIM' || word === 'LTRIM' || word === 'RTRIM') {
      csv.trim = word;
      i++;
    } else if (word === 'REPLACE' || word === 'TRUNCATE') {
      replace = true;
      i++;
    } else {
      throw new TranslationError(`syntax error, unexpected ${tokens[i].text} in file options`);
    }
  }
  if (targets.length === 0) throw new TranslationError('AT … FILE … expected');
  return { targets, csv, replace };
}
