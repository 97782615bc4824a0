-- Enrich orders with the customer as it was when each order was placed: an event-time
-- temporal join of the `orders` stream with the `customers` table refstream keeps in Kafka
-- (refstream sync --table public.customers --sink kafka://…/customers).
-- ${BOOTSTRAP} is replaced by the Kafka bootstrap servers (RunSql; the SQL client's SET or
-- your deployment tooling do the same).

-- refstream's upsert topic: key = the primary key as JSON, value = the row as JSON, tombstone
-- = delete. Every version of a row is timed by its Kafka record timestamp (when refstream
-- wrote the change), which makes the table a versioned table.
CREATE TABLE customers (
  id BIGINT,
  name STRING,
  segment STRING,
  changed_at TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  WATERMARK FOR changed_at AS changed_at,
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = 'customers',
  'properties.bootstrap.servers' = '${BOOTSTRAP}',
  -- only committed changes when refstream writes in transactions (?transactions=true)
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'json',
  'value.format' = 'json',
  -- read what is there and end (this demo); drop it for a job that runs on, and set
  -- 'scan.watermark.idle-timeout' so that quiet partitions do not hold the join back
  'scan.bounded.mode' = 'latest-offset'
);

CREATE TABLE orders (
  order_id STRING,
  customer_id BIGINT,
  amount DECIMAL(10, 2),
  ordered_at BIGINT,
  order_time AS TO_TIMESTAMP_LTZ(ordered_at, 3),
  WATERMARK FOR order_time AS order_time
) WITH (
  'connector' = 'kafka',
  'topic' = 'orders',
  'properties.bootstrap.servers' = '${BOOTSTRAP}',
  'scan.startup.mode' = 'earliest-offset',
  'scan.bounded.mode' = 'latest-offset',
  'format' = 'json'
);

CREATE TABLE orders_enriched (
  order_id STRING,
  customer_id BIGINT,
  amount DECIMAL(10, 2),
  customer_name STRING,
  customer_segment STRING
) WITH (
  'connector' = 'kafka',
  'topic' = 'orders-enriched',
  'properties.bootstrap.servers' = '${BOOTSTRAP}',
  'format' = 'json'
);

-- LEFT JOIN: an order of a customer unknown at that time is kept, without customer columns.
INSERT INTO orders_enriched
SELECT o.order_id, o.customer_id, o.amount, c.name, c.segment
FROM orders AS o
LEFT JOIN customers FOR SYSTEM_TIME AS OF o.order_time AS c
  ON o.customer_id = c.id;
