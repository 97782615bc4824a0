/**
 * Parsing of pgoutput logical replication messages (protocol versions 1 and 2, without
 * in-progress streaming) and of the CopyBoth frames that carry them.
 * See https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 */

/** Primary keepalive (`k`) frame. */
export interface Keepalive {
  walEnd: bigint;
  replyRequested: boolean;
}

/** Offset of the pgoutput message inside an XLogData (`w`) frame. */
export const XLOG_DATA_HEADER = 25;

export function parseKeepalive(frame: Buffer): Keepalive {
  return { walEnd: frame.readBigUInt64BE(1), replyRequested: frame[17] === 1 };
}

/** A Relation (`R`) message. */
export interface RelationMessage {
  relid: number;
  namespace: string;
  name: string;
  replicaIdentity: string;
  columns: { flags: number; name: string; typeOid: number; typmod: number }[];
}

function readCString(buf: Buffer, pos: number): [string, number] {
  const end = buf.indexOf(0, pos);
  return [buf.toString('utf8', pos, end), end + 1];
}

export function parseRelation(buf: Buffer, pos: number): RelationMessage {
  const relid = buf.readUInt32BE(pos);
  let p = pos + 4;
  let namespace: string;
  let name: string;
  [namespace, p] = readCString(buf, p);
  [name, p] = readCString(buf, p);
  const replicaIdentity = String.fromCharCode(buf[p]!);
  const ncols = buf.readInt16BE(p + 1);
  p += 3;
  const columns: RelationMessage['columns'] = [];
  for (let i = 0; i < ncols; i++) {
    const flags = buf[p]!;
    let colName: string;
    [colName, p] = readCString(buf, p + 1);
    columns.push({ flags, name: colName, typeOid: buf.readUInt32BE(p), typmod: buf.readInt32BE(p + 4) });
    p += 8;
  }
  return { relid, namespace, name: name, replicaIdentity, columns };
}

/**
 * A parsed TupleData: per column its kind (`n` null, `u` unchanged TOAST, `t` text,
 * `b` binary) and the value's offset and length in the frame. Reused between messages.
 */
export class Tuple {
  kinds = new Uint8Array(64);
  offsets = new Int32Array(64);
  lengths = new Int32Array(64);
  count = 0;
  present = false;

  /** Parses a TupleData at `pos`; returns the position after it. */
  parse(buf: Buffer, pos: number): number {
    const n = buf.readInt16BE(pos);
    if (n > this.kinds.length) {
      this.kinds = new Uint8Array(n);
      this.offsets = new Int32Array(n);
      this.lengths = new Int32Array(n);
    }
    let p = pos + 2;
    for (let i = 0; i < n; i++) {
      const kind = buf[p]!;
      this.kinds[i] = kind;
      p++;
      if (kind === 0x74 /* t */ || kind === 0x62 /* b */) {
        const len = buf.readInt32BE(p);
        this.offsets[i] = p + 4;
        this.lengths[i] = len;
        p += 4 + len;
      } else {
        this.offsets[i] = -1;
        this.lengths[i] = 0;
      }
    }
    this.count = n;
    this.present = true;
    return p;
  }
}

export const KIND = { null: 0x6e, unchanged: 0x75, text: 0x74, binary: 0x62 } as const;
