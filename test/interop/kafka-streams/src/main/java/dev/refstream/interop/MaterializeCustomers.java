package dev.refstream.interop;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * Materializes a refstream upsert topic in Kafka Streams the two ways applications keep a
 * reference table, each in its own application with default settings:
 *
 * <ul>
 *   <li>a {@code GlobalKTable<String, String>} (the key's JSON text, for lookups by key);
 *   <li>a {@code KTable<CustomerKey, Customer>} with typed Jackson serdes (unknown properties
 *       fail, Jackson's default) and the default {@code LogAndFailExceptionHandler}.
 * </ul>
 *
 * Both read with {@code isolation.level=read_committed}. Once both stores hold the whole topic,
 * every entry of both is printed as one JSON line on stdout. Exits non-zero when an
 * application fails.
 *
 * <p>Usage: {@code MaterializeCustomers BOOTSTRAP TOPIC STATE_DIR}
 */
public final class MaterializeCustomers {
  /** The key refstream writes: {@code {"id":"42"}} (Jackson reads the numeric string as a long). */
  public record CustomerKey(long id) {}

  /** The row refstream writes for public.customers. */
  public record Customer(long id, String name, String segment, BigDecimal credit, boolean active, int visits) {}

  private static final ObjectMapper JSON = new ObjectMapper();

  static <T> Serde<T> json(Class<T> type) {
    return Serdes.serdeFrom(
        (topic, value) -> {
          try {
            return value == null ? null : JSON.writeValueAsBytes(value);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        },
        (topic, bytes) -> {
          try {
            return bytes == null ? null : JSON.readValue(bytes, type);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    Path stateDir = Path.of(args[2]);
    String run = UUID.randomUUID().toString().substring(0, 8);
    AtomicReference<Throwable> failure = new AtomicReference<>();

    StreamsBuilder globalBuilder = new StreamsBuilder();
    globalBuilder.globalTable(
        topic,
        Consumed.with(Serdes.String(), Serdes.String()),
        Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("customers-global"));
    KafkaStreams global = start(globalBuilder, "refstream-interop-global-" + run, bootstrap, stateDir, failure);

    StreamsBuilder tableBuilder = new StreamsBuilder();
    tableBuilder.table(
        topic,
        Consumed.with(json(CustomerKey.class), json(Customer.class)),
        Materialized.<CustomerKey, Customer, KeyValueStore<Bytes, byte[]>>as("customers-table"));
    String tableApp = "refstream-interop-table-" + run;
    KafkaStreams table = start(tableBuilder, tableApp, bootstrap, stateDir, failure);

    try {
      awaitRunning(global, failure);
      awaitRunning(table, failure);
      awaitConsumed(bootstrap, topic, tableApp, failure);

      ReadOnlyKeyValueStore<String, String> globalStore =
          global.store(StoreQueryParameters.fromNameAndType("customers-global", QueryableStoreTypes.keyValueStore()));
      try (KeyValueIterator<String, String> it = globalStore.all()) {
        while (it.hasNext()) {
          KeyValue<String, String> kv = it.next();
          Map<String, Object> line = new LinkedHashMap<>();
          line.put("store", "global");
          line.put("key", kv.key);
          line.put("value", kv.value);
          System.out.println(JSON.writeValueAsString(line));
        }
      }
      ReadOnlyKeyValueStore<CustomerKey, Customer> tableStore =
          table.store(StoreQueryParameters.fromNameAndType("customers-table", QueryableStoreTypes.keyValueStore()));
      try (KeyValueIterator<CustomerKey, Customer> it = tableStore.all()) {
        while (it.hasNext()) {
          KeyValue<CustomerKey, Customer> kv = it.next();
          Customer c = kv.value;
          Map<String, Object> row = new LinkedHashMap<>();
          row.put("id", Long.toString(c.id()));
          row.put("name", c.name());
          row.put("segment", c.segment());
          row.put("credit", c.credit().toPlainString());
          row.put("active", Boolean.toString(c.active()));
          row.put("visits", Integer.toString(c.visits()));
          Map<String, Object> line = new LinkedHashMap<>();
          line.put("store", "table");
          line.put("key", Long.toString(kv.key.id()));
          line.put("row", row);
          System.out.println(JSON.writeValueAsString(line));
        }
      }
    } finally {
      global.close(Duration.ofSeconds(10));
      table.close(Duration.ofSeconds(10));
    }
    if (failure.get() != null) fail(failure.get());
  }

  private static KafkaStreams start(
      StreamsBuilder builder, String applicationId, String bootstrap, Path stateDir, AtomicReference<Throwable> failure) {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    // Kafka 4.4 recommends it (and warns without it); it will be the default.
    props.put("processing.exception.handler.global.enabled", true);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.ISOLATION_LEVEL_CONFIG), "read_committed");
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    streams.setUncaughtExceptionHandler(
        e -> {
          failure.compareAndSet(null, e);
          return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    streams.start();
    return streams;
  }

  private static void awaitRunning(KafkaStreams streams, AtomicReference<Throwable> failure) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 120_000;
    while (streams.state() != KafkaStreams.State.RUNNING) {
      if (failure.get() != null) fail(failure.get());
      if (streams.state() == KafkaStreams.State.ERROR || streams.state() == KafkaStreams.State.NOT_RUNNING)
        fail(new IllegalStateException("Kafka Streams stopped: " + streams.state()));
      if (System.currentTimeMillis() > deadline) fail(new IllegalStateException("Kafka Streams not RUNNING after 120 s"));
      Thread.sleep(50);
    }
  }

  /**
   * Waits until the KTable application has committed past the last record of every partition
   * that a read_committed consumer sees (a partition may end in transaction markers).
   */
  private static void awaitConsumed(String bootstrap, String topic, String applicationId, AtomicReference<Throwable> failure)
      throws Exception {
    Map<TopicPartition, Long> lastRecord = lastRecordOffsets(bootstrap, topic);
    Properties adminProps = new Properties();
    adminProps.put("bootstrap.servers", bootstrap);
    long deadline = System.currentTimeMillis() + 120_000;
    try (Admin admin = Admin.create(adminProps)) {
      for (;;) {
        if (failure.get() != null) fail(failure.get());
        Map<TopicPartition, OffsetAndMetadata> committed =
            admin.listConsumerGroupOffsets(applicationId).partitionsToOffsetAndMetadata().get();
        boolean done = true;
        for (Map.Entry<TopicPartition, Long> e : lastRecord.entrySet()) {
          OffsetAndMetadata c = committed.get(e.getKey());
          if (c == null || c.offset() <= e.getValue()) done = false;
        }
        if (done) return;
        if (System.currentTimeMillis() > deadline)
          fail(new IllegalStateException("the KTable application did not consume the topic in 120 s: " + committed + " vs " + lastRecord));
        Thread.sleep(100);
      }
    }
  }

  /** Offset of the last record of each partition visible to read_committed (partitions without records left out). */
  private static Map<TopicPartition, Long> lastRecordOffsets(String bootstrap, String topic) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    Map<TopicPartition, Long> last = new HashMap<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic).stream().map(p -> new TopicPartition(topic, p.partition())).toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200)))
          last.put(new TopicPartition(r.topic(), r.partition()), r.offset());
      }
    }
    return last;
  }

  private static void fail(Throwable e) {
    System.err.println("MaterializeCustomers failed:");
    e.printStackTrace();
    System.exit(1);
  }
}
