"""One Python peer reading a whole PostgreSQL table into a pyarrow Table.

Usage: python peer.py <adbc|connectorx> <connection uri> <table> [partition_on partition_num]
Prints {"rows", "columns", "ms"}: ms covers connecting and reading into Arrow (imports and
interpreter start are excluded; the caller also measures the whole process).
"""

import json
import sys
import time


def read_adbc(uri, table):
    import adbc_driver_postgresql.dbapi as dbapi

    started = time.perf_counter()
    with dbapi.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        result = cur.fetch_arrow_table()
    return result, started


def read_connectorx(uri, table, partition_on=None, partition_num=None):
    import connectorx as cx

    started = time.perf_counter()
    extra = {"partition_on": partition_on, "partition_num": int(partition_num)} if partition_on else {}
    result = cx.read_sql(uri, f"SELECT * FROM {table}", return_type="arrow", **extra)
    return result, started


def main():
    peer, uri, table, *partition = sys.argv[1:]
    # Modules are imported before the clock starts, for both peers alike.
    import pyarrow  # noqa: F401

    if peer == "adbc":
        import adbc_driver_postgresql.dbapi  # noqa: F401

        result, started = read_adbc(uri, table)
    elif peer == "connectorx":
        import connectorx  # noqa: F401

        result, started = read_connectorx(uri, table, *partition)
    else:
        raise SystemExit(f"unknown peer {peer!r}: use adbc or connectorx")
    ms = (time.perf_counter() - started) * 1000
    print(json.dumps({"rows": result.num_rows, "columns": result.num_columns, "ms": ms}))


if __name__ == "__main__":
    main()
