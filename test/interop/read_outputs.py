"""Reads a refstream output with a third-party reader and prints its rows as PostgreSQL text.

Usage: read_outputs.py <pyarrow|polars|duckdb> <arrow|jsonl> <path or -> <columns JSON>

<columns JSON> is a list of [name, postgres type] pairs, e.g. [["id","int8"],["tags","text[]"]].
Output (stdout): one JSON document {"streams": n, "rows": [[cell, ...], ...]} where every cell
is exactly what psql prints for the value (TimeZone=UTC) or null for SQL NULL, rows sorted by
the first column. The test compares it with psql's own output for the same rows.

Arrow outputs are a sequence of concatenated IPC streams (a new stream starts whenever the
schema changes, e.g. when a snapshot restarts). The IPC stream reader of every library reads
one stream, so this script reads the bytes stream by stream: pyarrow finds where each stream
ends, then each library parses that stream's bytes itself. A stream whose schema metadata
marks a snapshot start (refstream.kind = snapshot after changes, or a restart marker) replaces
the rows read so far, as a consumer folding the output would.
"""

import base64
import datetime as dt
import decimal
import io
import json
import sys
import uuid

import pyarrow as pa
import pyarrow.ipc as ipc

# ---------------------------------------------------------------- PostgreSQL text rendering


def pg_text(value, pg_type):
    """The text PostgreSQL's output function prints for `value` of `pg_type` (None = NULL)."""
    if value is None:
        return None
    if pg_type.endswith("[]"):
        element = pg_type[:-2]
        return "{" + ",".join(pg_array_element(v, element) for v in value) + "}"
    if pg_type in ("int2", "int4", "int8"):
        return str(int(value))
    if pg_type.startswith("numeric"):
        d = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
        return format(d, "f")
    if pg_type == "bool":
        return "t" if value else "f"
    if pg_type == "timestamptz":
        return pg_timestamptz(value)
    if pg_type == "bytea":
        return "\\x" + bytes_of(value).hex()
    if pg_type == "uuid":
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return str(uuid.UUID(bytes=bytes(value)))
        return str(uuid.UUID(str(value)))
    if pg_type in ("text", "varchar"):
        return str(value)
    raise ValueError(f"no PostgreSQL rendering for type {pg_type}")


def pg_array_element(value, element_type):
    if value is None:
        return "NULL"
    text = pg_text(value, element_type)
    needs_quotes = (
        text == ""
        or text.upper() == "NULL"
        or any(c in text for c in '{}",\\')
        or any(c in " \t\n\r\v\f" for c in text)
    )
    if not needs_quotes:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pg_timestamptz(value):
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError(f"timestamptz read without a time zone: {value!r}")
    utc = value.astimezone(dt.timezone.utc)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if utc.microsecond:
        text += (".%06d" % utc.microsecond).rstrip("0")
    return text + "+00"


def bytes_of(value):
    if isinstance(value, str):  # JSON Lines carries binary as base64
        return base64.b64decode(value, validate=True)
    return bytes(value)


# ---------------------------------------------------------------- splitting concatenated streams


def ipc_streams(data):
    """The byte ranges of the concatenated IPC streams in `data`, found with pyarrow."""
    source = pa.BufferReader(data)
    ranges = []
    while source.tell() < len(data):
        start = source.tell()
        reader = ipc.open_stream(source)
        for _ in reader:
            pass
        ranges.append((start, source.tell()))
    return ranges


def is_snapshot_start(schema_metadata, previous_kind):
    meta = {k.decode(): v.decode() for k, v in (schema_metadata or {}).items()}
    kind = meta.get("refstream.kind")
    restart = any("restart" in k for k in meta)
    return kind == "snapshot" and (previous_kind == "changes" or restart), kind


# ---------------------------------------------------------------- readers


def read_arrow(reader_name, data, columns):
    rows = []
    previous_kind = None
    streams = ipc_streams(data)
    for start, end in streams:
        chunk = data[start:end]
        schema = ipc.open_stream(pa.BufferReader(chunk)).schema
        restart, previous_kind = is_snapshot_start(schema.metadata, previous_kind)
        if restart:
            rows = []
        names = [c[0] for c in columns]
        if reader_name == "pyarrow":
            table = ipc.open_stream(pa.BufferReader(chunk)).read_all()
            py = [table.column(n).to_pylist() for n in names]
            rows.extend(list(r) for r in zip(*py))
        elif reader_name == "polars":
            import polars as pl

            frame = pl.read_ipc_stream(io.BytesIO(chunk))
            rows.extend(list(r) for r in frame.select(names).iter_rows())
        elif reader_name == "duckdb":
            import duckdb

            table = ipc.open_stream(pa.BufferReader(chunk)).read_all()
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            con.register("refstream_stream", table)
            select = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
            rows.extend(list(r) for r in con.execute(f"SELECT {select} FROM refstream_stream").fetchall())
            con.close()
        else:
            raise SystemExit(f"unknown reader {reader_name}")
    return rows, len(streams)


def fold_jsonl(records, columns):
    """Folds {"op","key","row"} records into the rows of the table (a truncate clears them)."""
    rows = []
    for op, row in records:
        if op == "truncate":
            rows = []
        elif op == "snapshot":
            rows.append([row[name] for name, _ in columns])
        else:
            raise ValueError(f"unexpected op {op!r} in a snapshot output")
    return rows


def read_jsonl(reader_name, path, columns):
    if reader_name == "polars":
        import polars as pl

        frame = pl.read_ndjson(path, infer_schema_length=None)
        records = [(r["op"], r["row"]) for r in frame.select("op", "row").iter_rows(named=True)]
        return fold_jsonl(records, columns), 1
    if reader_name == "duckdb":
        import duckdb

        con = duckdb.connect()
        # Columns typed as JSON so DuckDB keeps every value as written (no type guessing);
        # each cell is taken out of the row object by DuckDB's JSON functions as JSON text.
        parts = []
        for name, _ in columns:
            path_expr = "'$.\"" + name.replace("'", "''") + "\"'"
            parts.append(f"json_extract(row, {path_expr})::VARCHAR")
        sql = (
            f"SELECT op, {', '.join(parts)} FROM read_json(?, format = 'newline_delimited', "
            "columns = {op: 'VARCHAR', key: 'JSON', row: 'JSON', position: 'VARCHAR'}) "
        )
        records = []
        for op, *cells in con.execute(sql, [path]).fetchall():
            row = None
            if op == "snapshot":
                row = {}
                for (name, _), cell in zip(columns, cells):
                    row[name] = None if cell is None else json.loads(cell)
            records.append((op, row))
        con.close()
        return fold_jsonl(records, columns), 1
    if reader_name == "pyarrow":
        import pyarrow.json as pajson

        table = pajson.read_json(path)
        records = list(zip(table.column("op").to_pylist(), table.column("row").to_pylist()))
        return fold_jsonl(records, columns), 1
    raise SystemExit(f"unknown reader {reader_name}")


def main():
    reader_name, fmt, source, columns_json = sys.argv[1:5]
    columns = json.loads(columns_json)
    if fmt == "arrow":
        data = sys.stdin.buffer.read() if source == "-" else open(source, "rb").read()
        rows, streams = read_arrow(reader_name, data, columns)
    elif fmt == "jsonl":
        rows, streams = read_jsonl(reader_name, source, columns)
    else:
        raise SystemExit(f"unknown format {fmt}")
    rendered = [[pg_text(v, t) for v, (_, t) in zip(row, columns)] for row in rows]
    rendered.sort(key=lambda r: int(r[0]))
    json.dump({"streams": streams, "rows": rendered}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
