package dev.refstream.interop;

import java.net.URI;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.DeploymentOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.StatementSet;
import org.apache.flink.table.api.TableEnvironment;

/**
 * Reads refstream's topics with Flink SQL: one job on a local MiniCluster started once, with
 * three pipelines, each writing what it reads to a Kafka topic of its own (the test reads them):
 *
 * <ul>
 *   <li>an {@code upsert-kafka} table ({@code key.format=json}, {@code value.format=json}) over
 *       the default upsert topic, copied to {@code <out>-upsert} (upsert-kafka);
 *   <li>a {@code kafka} table with {@code format=debezium-json} over the {@code format=debezium}
 *       topic, copied to {@code <out>-debezium} (upsert-kafka);
 *   <li>an event-time temporal join enriching a stream of orders with the upsert table as a
 *       versioned table, appended to {@code <out>-enriched}.
 * </ul>
 *
 * Every read is bounded ({@code scan.bounded.mode=latest-offset}), so the job ends. Values are
 * written as text the way PostgreSQL prints them.
 *
 * <p>Usage: {@code CustomersInFlink BOOTSTRAP UPSERT_TOPIC DEBEZIUM_TOPIC ORDERS_TOPIC OUT_PREFIX}
 */
public final class CustomersInFlink {
  private static final String COLUMNS =
      "id BIGINT, name STRING, segment STRING, credit DECIMAL(12, 2), active BOOLEAN, visits INT";
  private static final String AS_TEXT =
      "id, name, segment, CAST(credit AS STRING) AS credit, LOWER(CAST(active AS STRING)) AS active, CAST(visits AS STRING) AS visits";
  private static final String TEXT_COLUMNS =
      "id BIGINT, name STRING, segment STRING, credit STRING, active STRING, visits STRING, PRIMARY KEY (id) NOT ENFORCED";

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String upsertTopic = args[1];
    String debeziumTopic = args[2];
    String ordersTopic = args[3];
    String out = args[4];

    Configuration clusterConfig = new Configuration();
    clusterConfig.set(RestOptions.BIND_PORT, "0");
    clusterConfig.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("64m"));
    MiniCluster cluster =
        new MiniCluster(
            new MiniClusterConfiguration.Builder()
                .setConfiguration(clusterConfig)
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(2)
                .build());
    cluster.start();
    try {
      URI rest = cluster.getRestAddress().get();
      Configuration client = new Configuration();
      client.set(DeploymentOptions.TARGET, "remote");
      client.set(RestOptions.ADDRESS, rest.getHost());
      client.set(RestOptions.PORT, rest.getPort());
      client.set(CoreOptions.DEFAULT_PARALLELISM, 1);
      TableEnvironment sql =
          TableEnvironment.create(EnvironmentSettings.newInstance().inStreamingMode().withConfiguration(client).build());
      // refstream's topics are delivered at least once (a replay after a crash repeats changes)
      // and a Debezium update or delete carries only the key in "before": with a primary key
      // declared, this makes Flink normalize the changelog by key from its own state.
      sql.getConfig().set("table.exec.source.cdc-events-duplicate", "true");

      String source =
          "'properties.bootstrap.servers' = '" + bootstrap + "', "
              + "'properties.group.id' = 'refstream-interop', "
              + "'properties.isolation.level' = 'read_committed', "
              + "'scan.bounded.mode' = 'latest-offset'";
      String sink = "'properties.bootstrap.servers' = '" + bootstrap + "'";
      sql.executeSql(
          "CREATE TABLE customers (" + COLUMNS + ", PRIMARY KEY (id) NOT ENFORCED) WITH ("
              + "'connector' = 'upsert-kafka', 'topic' = '" + upsertTopic + "', " + source + ", "
              + "'key.format' = 'json', 'value.format' = 'json')");
      sql.executeSql(
          "CREATE TABLE customers_cdc (" + COLUMNS + ", PRIMARY KEY (id) NOT ENFORCED) WITH ("
              + "'connector' = 'kafka', 'topic' = '" + debeziumTopic + "', " + source + ", "
              + "'scan.startup.mode' = 'earliest-offset', 'format' = 'debezium-json')");
      sql.executeSql(
          "CREATE TABLE customer_versions (" + COLUMNS + ", "
              + "changed_at TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL, "
              + "WATERMARK FOR changed_at AS changed_at, PRIMARY KEY (id) NOT ENFORCED) WITH ("
              + "'connector' = 'upsert-kafka', 'topic' = '" + upsertTopic + "', " + source + ", "
              + "'key.format' = 'json', 'value.format' = 'json')");
      sql.executeSql(
          "CREATE TABLE orders (order_id BIGINT, customer_id BIGINT, amount DECIMAL(10, 2), ordered_ms BIGINT, "
              + "order_time AS TO_TIMESTAMP_LTZ(ordered_ms, 3), WATERMARK FOR order_time AS order_time) WITH ("
              + "'connector' = 'kafka', 'topic' = '" + ordersTopic + "', " + source + ", "
              + "'scan.startup.mode' = 'earliest-offset', 'format' = 'json')");
      for (String name : new String[] {"upsert", "debezium"})
        sql.executeSql(
            "CREATE TABLE out_" + name + " (" + TEXT_COLUMNS + ") WITH ('connector' = 'upsert-kafka', "
                + "'topic' = '" + out + "-" + name + "', " + sink + ", 'key.format' = 'json', 'value.format' = 'json')");
      sql.executeSql(
          "CREATE TABLE out_enriched (order_id STRING, customer_id STRING, amount STRING, name STRING, segment STRING) "
              + "WITH ('connector' = 'kafka', 'topic' = '" + out + "-enriched', " + sink + ", 'format' = 'json')");

      StatementSet job = sql.createStatementSet();
      job.addInsertSql("INSERT INTO out_upsert SELECT " + AS_TEXT + " FROM customers");
      job.addInsertSql("INSERT INTO out_debezium SELECT " + AS_TEXT + " FROM customers_cdc");
      job.addInsertSql(
          "INSERT INTO out_enriched SELECT CAST(o.order_id AS STRING), CAST(o.customer_id AS STRING), "
              + "CAST(o.amount AS STRING), c.name, c.segment "
              + "FROM orders AS o LEFT JOIN customer_versions FOR SYSTEM_TIME AS OF o.order_time AS c "
              + "ON o.customer_id = c.id");
      long started = System.currentTimeMillis();
      job.execute().await();
      System.out.println("{\"jobMs\":" + (System.currentTimeMillis() - started) + "}");
    } finally {
      cluster.close();
    }
  }
}
