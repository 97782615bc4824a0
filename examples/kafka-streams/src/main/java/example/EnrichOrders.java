package example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Enriches a stream of orders with a customers table that refstream keeps in a Kafka topic
 * (`refstream sync --table public.customers --sink kafka://…/customers`).
 *
 * <p>The topic is refstream's upsert format: key = the primary key as a JSON object
 * ({@code {"id":"42"}}), value = the row as a JSON object, a tombstone for a delete. Read as a
 * {@code GlobalKTable}, every instance of the application holds the whole table, so orders
 * need not be partitioned like customers.
 *
 * <p>Usage: {@code EnrichOrders BOOTSTRAP [CUSTOMERS_TOPIC] [ORDERS_TOPIC] [OUTPUT_TOPIC] [STATE_DIR]}
 */
public final class EnrichOrders {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * refstream's key of a customer: the key columns as a JSON object, in key order, with int8
   * (bigint) values as JSON strings so no digit is lost. A lookup must produce these bytes exactly.
   */
  static String customerKey(long id) {
    return "{\"id\":\"" + id + "\"}";
  }

  /** orders → (customer lookup by key) → orders-enriched. */
  static Topology topology(String customersTopic, String ordersTopic, String outputTopic) {
    StreamsBuilder builder = new StreamsBuilder();
    GlobalKTable<String, String> customers =
        builder.globalTable(
            customersTopic,
            Consumed.with(Serdes.String(), Serdes.String()),
            Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("customers"));
    builder.stream(ordersTopic, Consumed.with(Serdes.String(), Serdes.String()))
        .leftJoin(
            customers,
            (orderId, order) -> customerKey(read(order).get("customer_id").asLong()),
            EnrichOrders::enrich)
        .to(outputTopic, Produced.with(Serdes.String(), Serdes.String()));
    return builder.build();
  }

  /** The order with its customer's name and segment, or {@code "customer": null} when there is none. */
  static String enrich(String order, String customer) {
    ObjectNode out = (ObjectNode) read(order);
    if (customer == null) {
      out.putNull("customer");
    } else {
      JsonNode row = read(customer);
      ObjectNode c = out.putObject("customer");
      c.set("name", row.get("name"));
      c.set("segment", row.get("segment"));
    }
    return out.toString();
  }

  private static JsonNode read(String json) {
    try {
      return JSON.readTree(json);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static void main(String[] args) throws InterruptedException {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "enrich-orders");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    if (args.length > 4) props.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
    // See only committed records when refstream writes in transactions (?transactions=true).
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.ISOLATION_LEVEL_CONFIG), "read_committed");
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    props.put("processing.exception.handler.global.enabled", true);
    Topology topology =
        topology(
            args.length > 1 ? args[1] : "customers",
            args.length > 2 ? args[2] : "orders",
            args.length > 3 ? args[3] : "orders-enriched");

    KafkaStreams streams = new KafkaStreams(topology, props);
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener(
        (now, before) -> {
          if (now == KafkaStreams.State.RUNNING) System.out.println("running");
          if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) stopped.countDown();
        });
    Runtime.getRuntime().addShutdownHook(new Thread(streams::close));
    streams.start();
    stopped.await();
  }
}
