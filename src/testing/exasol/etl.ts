/**
 * Runs parsed EXPORT and IMPORT statements over the HTTP transport: rows are turned into CSV
 * (and back) with the statement's options, split across all `FILE`s — so several tunnels on
 * several nodes upload in parallel, as Exasol's nodes each push their share — and `.gz` files
 * are gzip-compressed.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { formatCsv, parseCsv, type CsvOptions } from './csv.js';
import type { ExportStatement, ImportStatement, TransportTarget } from './etl-statements.js';
import { formatInterval, formatTimestamp, type ResultColumn } from './result-sets.js';
import { TransportPeer, etlError, type TransportContext } from './http-transport.js';
import { ExasolError, SqlCode } from './errors.js';

/** Rows of a query as PostgreSQL text, with the Exasol column types. */
export interface QueryRows {
  columns: ResultColumn[];
  rows: (string | null)[][];
}

/** Exports `rows` to all files of the statement; returns the number of rows exported. */
export async function runExport(
  statement: ExportStatement,
  data: QueryRows,
  context: TransportContext,
  fractionDigits: number,
): Promise<number> {
  const files = statement.targets.flatMap((target) => target.files.map((file) => ({ target, file })));
  const header = data.columns.map((c) => c.name);
  const rows = data.rows;
  // Contiguous shares, one per file; files beyond the row count stay empty (0-byte bodies).
  const shares = files.map((_, k) =>
    rows.slice(Math.floor((k * rows.length) / files.length), Math.floor(((k + 1) * rows.length) / files.length)),
  );
  /** The CSV of a share, formatted piece by piece while it uploads (as Exasol's nodes stream). */
  function* csvPieces(share: (string | null)[][]): Generator<Buffer> {
    if (share.length === 0) {
      yield formatCsv([], header, statement.csv);
      return;
    }
    for (let i = 0; i < share.length; i += ROWS_PER_PIECE) {
      const slice = share
        .slice(i, i + ROWS_PER_PIECE)
        .map((row) => row.map((value, c) => csvValue(data.columns[c], value, statement.csv, fractionDigits)));
      yield formatCsv(slice, i === 0 ? header : undefined, statement.csv);
    }
  }
  await Promise.all(
    statement.targets.map(async (target) => {
      const peer = await TransportPeer.open(target.url, target.publicKeyPin, context);
      try {
        for (const file of target.files) {
          const index = files.findIndex((f) => f.target === target && f.file === file);
          const pieces = csvPieces(shares[index]);
          await peer.put(file, isCompressed(file) ? compressFor(file, Buffer.concat([...pieces])) : pieces);
        }
      } finally {
        peer.close();
      }
    }),
  );
  return data.rows.length;
}

/** Downloads all files of an IMPORT and returns their rows (text values, `null` = NULL). */
export async function fetchImportRows(statement: ImportStatement, context: TransportContext): Promise<(string | null)[][]> {
  const perTarget = await Promise.all(
    statement.targets.map(async (target: TransportTarget) => {
      const peer = await TransportPeer.open(target.url, target.publicKeyPin, context);
      const rows: (string | null)[][] = [];
      try {
        for (const file of target.files) {
          const body = decompressFor(file, await peer.get(file), target.url);
          rows.push(...parseCsv(body, statement.csv));
        }
      } finally {
        peer.close();
      }
      return rows;
    }),
  );
  return perTarget.flat();
}

const ROWS_PER_PIECE = 2000;

function isCompressed(file: string): boolean {
  return /\.(gz|bz2|zip)$/i.test(file);
}

function compressFor(file: string, body: Buffer): Buffer {
  const lower = file.toLowerCase();
  if (lower.endsWith('.gz')) return gzipSync(body);
  if (lower.endsWith('.bz2') || lower.endsWith('.zip')) {
    throw new ExasolError(`ETL-5102: compression of ${file} is not supported by the test server (only .gz)`, SqlCode.etl);
  }
  return body;
}

function decompressFor(file: string, body: Buffer, url: string): Buffer {
  if (!file.toLowerCase().endsWith('.gz')) return body;
  try {
    return gunzipSync(body);
  } catch (error) {
    throw etlError('5106', 'reading from', `${url}/${file}`, body.length, `gzip: ${(error as Error).message}`);
  }
}

/** The CSV text of one value as Exasol's EXPORT writes it. */
function csvValue(column: ResultColumn, value: string | null, csv: CsvOptions, fractionDigits: number): string | null {
  if (value === null) return null;
  switch (column.type.type) {
    case 'BOOLEAN':
      return value === 't' || value === 'true' ? csv.booleanTrue : csv.booleanFalse;
    case 'TIMESTAMP':
      return formatTimestamp(value, fractionDigits);
    case 'INTERVAL YEAR TO MONTH':
    case 'INTERVAL DAY TO SECOND':
      return formatInterval(column.type, value);
    case 'HASHTYPE':
      return value.startsWith('\\x') ? value.slice(2) : value.replace(/-/g, '');
    default:
      return value;
  }
}
