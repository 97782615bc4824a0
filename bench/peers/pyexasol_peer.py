"""pyexasol reading a whole Exasol table through its HTTP transport (EXPORT … INTO CSV).

Usage: python pyexasol_peer.py <pandas|arrow|parallel-arrow> '<json: dsn, user, password, table, nodes>'
  pandas          export_to_pandas(table)                          (what most users call)
  arrow           export_to_callback → pyarrow.csv.read_csv         (one HTTP transport)
  parallel-arrow  export_parallel over `nodes` HTTP transports, each read by pyarrow.csv
Prints {"rows", "ms"}: ms covers connecting and the export into pandas/Arrow; imports excluded.
"""

import json
import sys
import threading
import time

import pandas  # noqa: F401
import pyarrow
import pyarrow.csv
import pyexasol


def read_arrow(pipe, _dst, **_params):
    return pyarrow.csv.read_csv(pipe)


def main():
    mode, settings = sys.argv[1], json.loads(sys.argv[2])
    table = tuple(settings["table"].split("."))
    started = time.perf_counter()
    conn = pyexasol.connect(dsn=settings["dsn"], user=settings["user"], password=settings["password"], encryption=True, compression=False)
    if mode == "pandas":
        rows = len(conn.export_to_pandas(table))
    elif mode == "arrow":
        rows = conn.export_to_callback(read_arrow, None, table, export_params={"with_column_names": True}).num_rows
    elif mode == "parallel-arrow":
        transports = [pyexasol.http_transport(n["ipaddr"], n["port"], encryption=True) for n in conn.get_nodes(settings["nodes"])]
        parts = [None] * len(transports)

        def receive(k):
            parts[k] = transports[k].export_to_callback(read_arrow, None)

        threads = [threading.Thread(target=receive, args=(k,)) for k in range(len(transports))]
        for t in threads:
            t.start()
        conn.export_parallel([t.exa_address for t in transports], table, export_params={"with_column_names": True})
        for t in threads:
            t.join()
        rows = pyarrow.concat_tables(parts).num_rows
    else:
        raise SystemExit(f"unknown mode {mode!r}: use pandas, arrow or parallel-arrow")
    conn.close()
    print(json.dumps({"rows": rows, "ms": (time.perf_counter() - started) * 1000}))


if __name__ == "__main__":
    main()
