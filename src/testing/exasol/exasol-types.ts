/**
 * Exasol column types: parsing them from DDL tokens, the PostgreSQL type each is stored as,
 * the `dataType` object the WebSocket API reports, the `COLUMN_TYPE` text of `EXA_ALL_COLUMNS`,
 * and the reverse mapping for PostgreSQL result columns that carry no Exasol type of their own.
 */
import { OID } from '../../connectors/postgres/oids.js';
import type { Token } from './sql-tokens.js';

export type ExasolTypeName =
  | 'DECIMAL'
  | 'DOUBLE'
  | 'VARCHAR'
  | 'CHAR'
  | 'BOOLEAN'
  | 'DATE'
  | 'TIMESTAMP'
  | 'INTERVAL YEAR TO MONTH'
  | 'INTERVAL DAY TO SECOND'
  | 'HASHTYPE'
  | 'GEOMETRY';

/** An Exasol column type with the properties Exasol keeps for it. */
export interface ExasolType {
  type: ExasolTypeName;
  precision?: number;
  scale?: number;
  size?: number;
  characterSet?: 'UTF8' | 'ASCII';
  withLocalTimeZone?: boolean;
  fraction?: number;
  srid?: number;
  /** HASHTYPE length in bytes. */
  bytes?: number;
  /** DECIMAL read from an unconstrained PostgreSQL numeric: the scale is taken from the data. */
  scaleFromData?: boolean;
}

const MAX_VARCHAR = 2_000_000;

/** Parses an Exasol type starting at `tokens[start]` (significant tokens). */
export function parseExasolType(tokens: Token[], start: number): { type: ExasolType; end: number } | undefined {
  let i = start;
  const word = (k: number) => (tokens[k]?.kind === 'word' ? tokens[k].value : undefined);
  const isPunct = (k: number, p: string) => tokens[k]?.kind === 'punct' && tokens[k].text === p;
  /** Reads `( n [, m] [unit] )` if present. */
  const args = (): { values: number[]; unit?: string } | undefined => {
    if (!isPunct(i, '(')) return undefined;
    const values: number[] = [];
    let unit: string | undefined;
    i++;
    while (i < tokens.length && !isPunct(i, ')')) {
      if (tokens[i].kind === 'number') values.push(Number(tokens[i].text));
      else if (tokens[i].kind === 'word') unit = tokens[i].value;
      i++;
    }
    i++;
    return { values, unit };
  };
  const name = word(i);
  if (!name) return undefined;
  i++;
  let type: ExasolType;
  switch (name) {
    case 'DECIMAL':
    case 'DEC':
    case 'NUMERIC':
    case 'NUMBER': {
      const a = args();
      if (!a && name === 'NUMBER') type = { type: 'DOUBLE' };
      else type = { type: 'DECIMAL', precision: a?.values[0] ?? 18, scale: a?.values[1] ?? 0 };
      break;
    }
    case 'INT':
    case 'INTEGER':
      type = { type: 'DECIMAL', precision: 18, scale: 0 };
      break;
    case 'BIGINT':
      type = { type: 'DECIMAL', precision: 36, scale: 0 };
      break;
    case 'SMALLINT':
      type = { type: 'DECIMAL', precision: 9, scale: 0 };
      break;
    case 'TINYINT':
      type = { type: 'DECIMAL', precision: 3, scale: 0 };
      break;
    case 'DOUBLE':
      if (word(i) === 'PRECISION') i++;
      type = { type: 'DOUBLE' };
      break;
    case 'FLOAT':
    case 'REAL':
      args();
      type = { type: 'DOUBLE' };
      break;
    case 'BOOLEAN':
    case 'BOOL':
      type = { type: 'BOOLEAN' };
      break;
    case 'DATE':
      type = { type: 'DATE' };
      break;
    case 'VARCHAR':
    case 'VARCHAR2':
    case 'NVARCHAR':
    case 'NVARCHAR2':
    case 'CLOB':
    case 'LONG':
    case 'CHAR':
    case 'CHARACTER':
    case 'NCHAR': {
      let varying = !['CHAR', 'CHARACTER', 'NCHAR'].includes(name);
      if (name === 'LONG' && word(i) === 'VARCHAR') i++;
      if ((name === 'CHARACTER' || name === 'CHAR') && word(i) === 'VARYING') {
        varying = true;
        i++;
      }
      const a = args();
      const size = a?.values[0] ?? (varying ? MAX_VARCHAR : 1);
      let characterSet: 'UTF8' | 'ASCII' = 'UTF8';
      if (word(i) === 'CHARACTER' && word(i + 1) === 'SET') i += 2;
      if (word(i) === 'UTF8' || word(i) === 'ASCII') characterSet = tokens[i++].value as 'UTF8' | 'ASCII';
      type = { type: varying ? 'VARCHAR' : 'CHAR', size, characterSet };
      break;
    }
    case 'TIMESTAMP': {
      const a = args();
      type = { type: 'TIMESTAMP', precision: a?.values[0] ?? 3, withLocalTimeZone: false };
      if (word(i) === 'WITH' && word(i + 1) === 'LOCAL' && word(i + 2) === 'TIME' && word(i + 3) === 'ZONE') {
        i += 4;
        type.withLocalTimeZone = true;
      }
      break;
    }
    case 'INTERVAL': {
      const from = word(i);
      i++;
      const p = args();
      if (from === 'YEAR' && word(i) === 'TO' && word(i + 1) === 'MONTH') {
        i += 2;
        type = { type: 'INTERVAL YEAR TO MONTH', precision: p?.values[0] ?? 2 };
      } else if (from === 'DAY' && word(i) === 'TO' && word(i + 1) === 'SECOND') {
        i += 2;
        const f = args();
        type = { type: 'INTERVAL DAY TO SECOND', precision: p?.values[0] ?? 2, fraction: f?.values[0] ?? 3 };
      } else {
        return undefined;
      }
      break;
    }
    case 'HASHTYPE': {
      const a = args();
      const n = a?.values[0] ?? 16;
      type = { type: 'HASHTYPE', bytes: a?.unit === 'BIT' ? n / 8 : n };
      break;
    }
    case 'GEOMETRY': {
      const a = args();
      type = { type: 'GEOMETRY', srid: a?.values[0] ?? 0 };
      break;
    }
    default:
      return undefined;
  }
  return { type, end: i };
}

/** The PostgreSQL type an Exasol type is stored as. */
export function postgresTypeOf(t: ExasolType): string {
  switch (t.type) {
    case 'DECIMAL':
      return `numeric(${t.precision},${t.scale})`;
    case 'DOUBLE':
      return 'double precision';
    case 'VARCHAR':
      return `varchar(${t.size})`;
    case 'CHAR':
      return `char(${t.size})`;
    case 'BOOLEAN':
      return 'boolean';
    case 'DATE':
      return 'date';
    case 'TIMESTAMP':
      // PostgreSQL keeps microseconds at most: TIMESTAMP(7–9) keep their full text instead
      // (session time zone UTC, so WITH LOCAL TIME ZONE values are UTC text as well)
      if ((t.precision ?? 3) > 6) return 'text';
      return `timestamp(${Math.min(t.precision ?? 3, 6)})${t.withLocalTimeZone ? ' with time zone' : ''}`;
    case 'INTERVAL YEAR TO MONTH':
      return 'interval year to month';
    case 'INTERVAL DAY TO SECOND':
      return `interval day to second(${Math.min(t.fraction ?? 3, 6)})`;
    case 'HASHTYPE':
      return t.bytes === 16 ? 'uuid' : 'bytea';
    case 'GEOMETRY':
      return 'text';
  }
}

/** `COLUMN_TYPE` as `EXA_ALL_COLUMNS` shows it. */
export function exasolTypeText(t: ExasolType): string {
  switch (t.type) {
    case 'DECIMAL':
      return `DECIMAL(${t.precision},${t.scale})`;
    case 'VARCHAR':
    case 'CHAR':
      return `${t.type}(${t.size}) ${t.characterSet ?? 'UTF8'}`;
    case 'TIMESTAMP':
      return `TIMESTAMP(${t.precision ?? 3})${t.withLocalTimeZone ? ' WITH LOCAL TIME ZONE' : ''}`;
    case 'INTERVAL YEAR TO MONTH':
      return `INTERVAL YEAR(${t.precision}) TO MONTH`;
    case 'INTERVAL DAY TO SECOND':
      return `INTERVAL DAY(${t.precision}) TO SECOND(${t.fraction})`;
    case 'HASHTYPE':
      return `HASHTYPE(${t.bytes} BYTE)`;
    case 'GEOMETRY':
      return `GEOMETRY(${t.srid ?? 0})`;
    default:
      return t.type;
  }
}

/** The `dataType` object of a result-set column, as the WebSocket API reports it. */
export function wireDataType(t: ExasolType, protocolVersion: number): Record<string, unknown> {
  switch (t.type) {
    case 'DECIMAL':
      return { type: 'DECIMAL', precision: t.precision, scale: t.scale };
    case 'VARCHAR':
    case 'CHAR':
      return { type: t.type, size: t.size, characterSet: t.characterSet ?? 'UTF8' };
    case 'DATE':
      return { type: 'DATE', size: 4 };
    case 'TIMESTAMP': {
      const base = t.withLocalTimeZone
        ? { type: 'TIMESTAMP WITH LOCAL TIME ZONE', size: 8, withLocalTimeZone: true }
        : { type: 'TIMESTAMP', size: 8, withLocalTimeZone: false };
      return protocolVersion >= 5 ? { ...base, precision: t.precision ?? 3 } : base;
    }
    case 'INTERVAL YEAR TO MONTH':
      return { type: t.type, size: (t.precision ?? 2) + 4, precision: t.precision };
    case 'INTERVAL DAY TO SECOND':
      return { type: t.type, size: (t.precision ?? 2) + (t.fraction ?? 3) + 11, precision: t.precision, fraction: t.fraction };
    case 'HASHTYPE':
      // Protocol v1 predates the distinct HASHTYPE and reports it as CHAR.
      return protocolVersion >= 2
        ? { type: 'HASHTYPE', size: (t.bytes ?? 16) * 2 }
        : { type: 'CHAR', size: (t.bytes ?? 16) * 2, characterSet: 'ASCII' };
    case 'GEOMETRY':
      return { type: 'GEOMETRY', size: MAX_VARCHAR, srid: t.srid ?? 0 };
    default:
      return { type: t.type };
  }
}

/** PostgreSQL type OIDs the mapping needs: the connector's, plus `unknown` (untyped literals). */
export const PgOid = { ...OID, unknown: 705 } as const;

// PostgreSQL interval typmod: range bit mask in the high 16 bits (MONTH = bit 1, YEAR = bit 2).
const INTERVAL_YEAR_MONTH_BITS = (1 << 1) | (1 << 2);

/** The Exasol type for a PostgreSQL result column without a recorded Exasol type. */
export function exasolTypeFromPostgres(oid: number, typmod: number): ExasolType {
  switch (oid) {
    case PgOid.numeric:
      if (typmod >= 4) {
        const mod = typmod - 4;
        return { type: 'DECIMAL', precision: (mod >> 16) & 0xffff, scale: mod & 0xffff };
      }
      return { type: 'DECIMAL', precision: 36, scale: 0, scaleFromData: true };
    case PgOid.int2:
      return { type: 'DECIMAL', precision: 9, scale: 0 };
    case PgOid.int4:
    case PgOid.int8:
      // COUNT(*) and friends are DECIMAL(18,0) in Exasol.
      return { type: 'DECIMAL', precision: 18, scale: 0 };
    case PgOid.float4:
    case PgOid.float8:
      return { type: 'DOUBLE' };
    case PgOid.bool:
      return { type: 'BOOLEAN' };
    case PgOid.date:
      return { type: 'DATE' };
    case PgOid.timestamp:
    case PgOid.timestamptz:
      return { type: 'TIMESTAMP', precision: typmod >= 0 ? typmod : 6, withLocalTimeZone: oid === PgOid.timestamptz };
    case PgOid.interval: {
      const range = typmod >= 0 ? (typmod >> 16) & 0x7fff : 0x7fff;
      const fraction = typmod >= 0 && (typmod & 0xffff) !== 0xffff ? typmod & 0xffff : 3;
      if ((range & ~INTERVAL_YEAR_MONTH_BITS) === 0) return { type: 'INTERVAL YEAR TO MONTH', precision: 2 };
      return { type: 'INTERVAL DAY TO SECOND', precision: 2, fraction };
    }
    case PgOid.uuid:
      return { type: 'HASHTYPE', bytes: 16 };
    case PgOid.bytea:
      return { type: 'HASHTYPE', bytes: 32 };
    case PgOid.bpchar:
      return typmod >= 4
        ? { type: 'CHAR', size: typmod - 4, characterSet: 'UTF8' }
        : { type: 'VARCHAR', size: MAX_VARCHAR, characterSet: 'UTF8' };
    case PgOid.varchar:
      return { type: 'VARCHAR', size: typmod >= 4 ? typmod - 4 : MAX_VARCHAR, characterSet: 'UTF8' };
    case PgOid.name:
      return { type: 'VARCHAR', size: 128, characterSet: 'UTF8' };
    default:
      return { type: 'VARCHAR', size: MAX_VARCHAR, characterSet: 'UTF8' };
  }
}
