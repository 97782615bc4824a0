/**
 * CSV as Exasol's IMPORT/EXPORT reads and writes it, with the statement's file options:
 * COLUMN SEPARATOR, COLUMN DELIMITER, ROW SEPARATOR, NULL, ENCODING, WITH COLUMN NAMES,
 * DELIMIT, SKIP, TRIM and BOOLEAN. Empty unquoted fields are NULL (Exasol has no empty string).
 * The connector has its own, narrower CSV code (the fixed options it uses); this one stays
 * separate because the test server is an independent model of the server, not of refstream.
 */

export interface CsvOptions {
  columnSeparator: string;
  columnDelimiter: string;
  rowSeparator: string;
  nullValue: string;
  encoding: 'utf8' | 'latin1' | 'ascii';
  withColumnNames: boolean;
  delimit: 'AUTO' | 'ALWAYS' | 'NEVER';
  skip: number;
  trim: 'NONE' | 'TRIM' | 'LTRIM' | 'RTRIM';
  booleanTrue: string;
  booleanFalse: string;
}

export const DEFAULT_CSV_OPTIONS: CsvOptions = {
  columnSeparator: ',',
  columnDelimiter: '"',
  rowSeparator: '\n',
  nullValue: '',
  encoding: 'utf8',
  withColumnNames: false,
  delimit: 'AUTO',
  skip: 0,
  trim: 'NONE',
  booleanTrue: 'TRUE',
  booleanFalse: 'FALSE',
};

/** Maps an option value of the statement to the character(s) it denotes. */
export function rowSeparatorOf(value: string): string {
  const map: Record<string, string> = { LF: '\n', CR: '\r', CRLF: '\r\n', NONE: '' };
  const sep = map[value.toUpperCase()];
  if (sep === undefined) throw new Error(`invalid ROW SEPARATOR '${value}'`);
  return sep;
}

export function separatorOf(value: string): string {
  return value.toUpperCase() === 'TAB' ? '\t' : value;
}

export function encodingOf(value: string): CsvOptions['encoding'] {
  const v = value.toUpperCase().replace(/[-_]/g, '');
  if (v === 'UTF8') return 'utf8';
  if (v === 'ASCII' || v === 'USASCII') return 'ascii';
  if (v === 'LATIN1' || v === 'ISO88591') return 'latin1';
  throw new Error(`unsupported ENCODING '${value}'`);
}

/** Writes rows (text values, `null` = NULL) as one CSV document. */
export function formatCsv(rows: (string | null)[][], header: string[] | undefined, options: CsvOptions): Buffer {
  const lines: string[] = [];
  if (header && options.withColumnNames) lines.push(header.map((h) => formatField(h, options)).join(options.columnSeparator));
  for (const row of rows) lines.push(row.map((v) => formatField(v, options)).join(options.columnSeparator));
  const text = lines.map((l) => l + options.rowSeparator).join('');
  return Buffer.from(text, options.encoding);
}

function formatField(value: string | null, options: CsvOptions): string {
  if (value === null) return options.nullValue;
  const d = options.columnDelimiter;
  const needsQuotes =
    options.delimit === 'ALWAYS' ||
    (options.delimit === 'AUTO' &&
      (value.includes(options.columnSeparator) || (d !== '' && value.includes(d)) || /[\r\n]/.test(value) || value === options.nullValue));
  if (!needsQuotes || d === '') return value;
  return d + value.split(d).join(d + d) + d;
}

/** Parses a CSV document into rows of text values (`null` for NULL). */
export function parseCsv(data: Buffer, options: CsvOptions): (string | null)[][] {
  const text = data.toString(options.encoding);
  const sep = options.columnSeparator;
  const d = options.columnDelimiter;
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let field = '';
  let quoted = false;
  let wasQuoted = false;
  let i = 0;
  const endField = () => {
    const value = wasQuoted ? field : trimField(field, options.trim);
    row.push(!wasQuoted && (value === '' || value === options.nullValue) ? null : value === '' ? null : value);
    field = '';
    wasQuoted = false;
  };
  const endRow = () => {
    endField();
    rows.push(row);
    row = [];
  };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (d && text.startsWith(d, i)) {
        if (text.startsWith(d, i + d.length)) {
          field += d;
          i += 2 * d.length;
          continue;
        }
        quoted = false;
        i += d.length;
        continue;
      }
      field += ch;
      i++;
    } else if (d && field.trim() === '' && text.startsWith(d, i)) {
      quoted = true;
      wasQuoted = true;
      field = '';
      i += d.length;
    } else if (text.startsWith(sep, i)) {
      endField();
      i += sep.length;
    } else if (ch === '\r' || ch === '\n') {
      endRow();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += ch;
      i++;
    }
  }
  if (field !== '' || wasQuoted || row.length > 0) endRow();
  return rows.slice(options.skip);
}

function trimField(value: string, trim: CsvOptions['trim']): string {
  if (trim === 'TRIM') return value.trim();
  if (trim === 'LTRIM') return value.trimStart();
  if (trim === 'RTRIM') return value.trimEnd();
  return value;
}
