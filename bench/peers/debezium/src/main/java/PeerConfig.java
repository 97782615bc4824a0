import java.net.URI;
import java.util.Properties;

/** The Debezium PostgreSQL connector settings both peers share: pgoutput, one table, larger batches. */
final class PeerConfig {
  private PeerConfig() {}

  /** Connector properties for `table` on the server of `url` (postgres://user:password@host:port/db), reading slot and publication `name`. */
  static Properties connector(String url, String table, String name) throws Exception {
    URI uri = new URI(url);
    String[] user = uri.getUserInfo().split(":", 2);
    Properties props = new Properties();
    props.setProperty("name", "refstream-peer");
    props.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
    props.setProperty("database.hostname", uri.getHost());
    props.setProperty("database.port", String.valueOf(uri.getPort()));
    props.setProperty("database.user", user[0]);
    props.setProperty("database.password", user.length > 1 ? user[1] : "");
    props.setProperty("database.dbname", uri.getPath().substring(1));
    props.setProperty("topic.prefix", "peer");
    props.setProperty("table.include.list", table);
    props.setProperty("plugin.name", "pgoutput");
    props.setProperty("slot.name", name);
    props.setProperty("publication.name", name);
    props.setProperty("publication.autocreate.mode", "filtered");
    // Larger batches and queue than the defaults (2048 / 8192): Debezium's throughput setting.
    props.setProperty("max.batch.size", "20480");
    props.setProperty("max.queue.size", "81920");
    // -Dpeer.poll.interval.ms: how long a batch may wait to fill, and the streaming thread sleeps when nothing came (default 500)
    String pollInterval = System.getProperty("peer.poll.interval.ms");
    if (pollInterval != null) props.setProperty("poll.interval.ms", pollInterval);
    return props;
  }

  /** CPU time of this whole process (every thread: JIT, GC, the engine's), in ms. */
  static double processCpuMs() {
    return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime()
        / 1e6;
  }
}
