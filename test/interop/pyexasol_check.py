"""pyexasol, Exasol's official Python client, against an Exasol server.

Usage: python pyexasol_check.py '<json options>'
Options: dsn, user, password, encryption (bool), compression (bool), table ("SCHEMA.TABLE"),
order_by (column), parallel (number of HTTP transports for export_parallel), and
expect_failure (connect only; report the error instead of failing).

Connects, queries the table (typed results through pyexasol's exasol_mapper), exports it with
export_to_pandas, export_to_callback and export_parallel (HTTP transport), and prints one JSON
object: every value rendered canonically (see `canonical`) plus the Python type it arrived as.
No comparison happens here; the caller compares with what the database holds.
"""

import csv
import datetime
import decimal
import io
import json
import sys
import threading

import pyexasol
from pyexasol.data_types.websocket_to_python import exasol_mapper


def canonical(value, exa_type):
    """One text per value, independent of the path it took: decimals without trailing zeros,
    ISO dates, timestamps with 6 fraction digits, booleans as true/false, NULL as None."""
    if value is None:
        return None
    if exa_type == "DECIMAL":
        text = format(decimal.Decimal(value), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if exa_type == "DATE":
        if isinstance(value, str):
            value = datetime.date.fromisoformat(value)
        return value.isoformat()
    if exa_type == "TIMESTAMP":
        if isinstance(value, str):
            value = datetime.datetime.fromisoformat(value)
        return value.isoformat(sep=" ", timespec="microseconds")
    if exa_type == "BOOLEAN":
        if isinstance(value, str):
            if value.upper() not in ("TRUE", "FALSE", "1", "0"):
                raise ValueError(f"not a BOOLEAN in CSV: {value!r}")
            return value.upper() in ("TRUE", "1")
        return bool(value)
    return value


def column_types(conn, table):
    """Column name → Exasol type name, from the result-set metadata pyexasol exposes."""
    stmt = conn.execute(f"SELECT * FROM {table} WHERE FALSE")
    return {name: info["type"] for name, info in stmt.columns().items()}


def csv_rows(text, names, types, header):
    """Rows of Exasol CSV (default options: ',' '"' LF, NULL as an empty field)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = list(reader)
    if header:
        if rows[0] != names:
            raise ValueError(f"CSV header {rows[0]} != {names}")
        rows = rows[1:]
    return [[canonical(None if cell == "" else cell, types[n]) for n, cell in zip(names, row)] for row in rows]


def read_text(pipe, _dst, **_params):
    return pipe.read().decode("utf-8")


def main():
    opts = json.loads(sys.argv[1])
    out = {}
    try:
        conn = pyexasol.connect(
            dsn=opts["dsn"],
            user=opts["user"],
            password=opts["password"],
            encryption=opts["encryption"],
            compression=opts.get("compression", False),
            fetch_mapper=exasol_mapper,
            socket_timeout=30,
        )
    except Exception as error:  # reported to the caller, which decides whether it was expected
        if opts.get("expect_failure"):
            print(json.dumps({"connect_error": f"{type(error).__name__}: {error}"}))
            return
        raise
    if opts.get("expect_failure"):
        print(json.dumps({"connected": True}))
        return

    table = opts["table"]
    order = opts["order_by"]
    out["session"] = {
        "protocol_version": conn.protocol_version(),
        "release_version": conn.login_info["releaseVersion"],
        "encrypted": conn._ws.sock.__class__.__name__ == "SSLSocket",
        "compression": conn.options["compression"],
    }
    types = column_types(conn, table)
    names = list(types)
    out["types"] = types

    stmt = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
    py_types = {}
    rows = []
    for row in stmt.fetchall():
        for n, v in zip(names, row):
            if v is not None:
                py_types.setdefault(n, set()).add(type(v).__name__)
        rows.append([canonical(v, types[n]) for n, v in zip(names, row)])
    out["query"] = {"rows": rows, "python_types": {n: sorted(t) for n, t in py_types.items()}}

    # Every column as text, so pandas infers nothing (no float rounding of DECIMALs).
    frame = conn.export_to_pandas(
        f"SELECT * FROM {table} ORDER BY {order}",
        callback_params={"dtype": str, "keep_default_na": False, "na_values": [""]},
    )
    if list(frame.columns) != names:
        raise ValueError(f"pandas columns {list(frame.columns)} != {names}")
    out["pandas"] = {
        "rows": [
            [canonical(None if v is None or v != v else v, types[n]) for n, v in zip(names, rec)]
            for rec in frame.itertuples(index=False, name=None)
        ]
    }

    # A table (schema, name) rather than a query: EXPORT "PYX"."T" INTO CSV.
    text = conn.export_to_callback(read_text, None, tuple(table.split(".")))
    out["callback"] = {"rows": csv_rows(text, names, types, header=False)}

    parallel = int(opts.get("parallel", 0))
    if parallel:
        nodes = conn.get_nodes(parallel)
        transports = [
            pyexasol.http_transport(node["ipaddr"], node["port"], compression=conn.options["compression"], encryption=opts["encryption"])
            for node in nodes
        ]
        texts = [None] * len(transports)

        def receive(k):
            texts[k] = transports[k].export_to_callback(read_text, None)

        threads = [threading.Thread(target=receive, args=(k,)) for k in range(len(transports))]
        for t in threads:
            t.start()
        conn.export_parallel([t.exa_address for t in transports], f"SELECT * FROM {table} ORDER BY {order}", export_params={"with_column_names": True})
        for t in threads:
            t.join()
        out["parallel"] = {
            "nodes": sorted({f"{n['ipaddr']}:{n['port']}" for n in nodes}),
            "file_rows": [len(csv_rows(t, names, types, header=True)) for t in texts],
            "rows": [r for t in texts for r in csv_rows(t, names, types, header=True)],
        }

    conn.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
