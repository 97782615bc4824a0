"""Reads a refstream topic with Python's confluent-kafka, as a Python user would, and prints
what it found as one JSON document on stdout.

    consume_confluent.py BOOTSTRAP TOPIC FORMAT ISOLATION

FORMAT is `json` (the upsert format: key = primary key, value = row, tombstone = delete) or
`debezium` (the Debezium envelope: `op` + `after`/`before`). Records with a `refstream-control`
header (the control records topics of earlier refstream versions carried) are counted and
skipped. The consumer reads every partition up to the end offsets it saw at start (the
producer has stopped), folds the records by key and reports the folded rows, the (op,
position, key) identities seen more than once, the control records and any consumer errors.
"""

import json
import sys
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition


def main() -> None:
    bootstrap, topic, fmt, isolation = sys.argv[1:5]
    errors: list[str] = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"refstream-interop-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "error_cb": lambda err: errors.append(str(err)),
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])

    rows: dict[str, dict] = {}
    seen: set[str] = set()
    duplicates: list[str] = []
    controls = 0
    records = 0
    at_end: set[int] = set()
    # The producer has stopped: each partition's end (for read_committed its last stable
    # offset) is where it reports end-of-partition.
    while len(at_end) < len(partitions):
        msg = consumer.poll(10.0)
        if msg is None:
            raise SystemExit(f"no record and no end of partition for 10 s; at end: {sorted(at_end)}")
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
            else:
                errors.append(str(msg.error()))
            continue
        records += 1
        # Header values are bytes; refstream-schema (on schema control records) is Arrow IPC.
        headers = {k: v.decode("utf-8", "replace") for k, v in (msg.headers() or []) if v is not None}
        control = headers.get("refstream-control")
        if control is not None:
            controls += 1
            continue
        key = json.loads(msg.key())
        key_text = json.dumps(key, sort_keys=True)
        value = msg.value()
        op = headers.get("refstream-op", "")
        identity = f"{'snapshot' if op == 'snapshot' else headers.get('refstream-position')}|{key_text}|{'tombstone' if value is None else 'value'}"
        if identity in seen:
            duplicates.append(identity)
        seen.add(identity)
        if fmt == "json":
            if value is None:
                rows.pop(key_text, None)
            else:
                rows[key_text] = json.loads(value)
        elif value is not None:  # debezium: the tombstone after a delete only helps compaction
            event = json.loads(value)
            event = event.get("payload", event)
            if event["op"] == "d":
                rows.pop(key_text, None)
            else:
                rows[key_text] = event["after"]
    consumer.close()
    print(
        json.dumps(
            {
                "rows": list(rows.values()),
                "records": records,
                "duplicates": duplicates,
                "controlRecords": controls,
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
