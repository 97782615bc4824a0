import io.debezium.embedded.Connect;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import java.net.URI;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.source.SourceRecord;

/**
 * Debezium embedded's initial snapshot of one table, timed from the engine's start until the
 * last snapshot record was handed to the consumer (Connect SourceRecords: no serialisation).
 *
 *   DebeziumSnapshotPeer postgres://user:password@host:port/db schema.table expectedRows
 *
 * Prints {"ms": …, "firstRecordMs": …, "rows": …} (times from the engine's creation). Offsets are kept in memory; the slot is dropped on stop.
 */
public final class DebeziumSnapshotPeer {
  public static void main(String[] args) throws Exception {
    URI uri = new URI(args[0]);
    String table = args[1];
    long expected = Long.parseLong(args[2]);
    String[] user = uri.getUserInfo().split(":", 2);

    Properties props = new Properties();
    props.setProperty("name", "refstream-peer");
    props.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
    props.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
    props.setProperty("offset.flush.interval.ms", "60000");
    props.setProperty("database.hostname", uri.getHost());
    props.setProperty("database.port", String.valueOf(uri.getPort()));
    props.setProperty("database.user", user[0]);
    props.setProperty("database.password", user.length > 1 ? user[1] : "");
    props.setProperty("database.dbname", uri.getPath().substring(1));
    props.setProperty("topic.prefix", "peer");
    props.setProperty("table.include.list", table);
    props.setProperty("plugin.name", "pgoutput");
    props.setProperty("slot.name", "dbz_peer_" + ProcessHandle.current().pid());
    props.setProperty("slot.drop.on.stop", "true");
    props.setProperty("publication.name", "dbz_peer_" + ProcessHandle.current().pid());
    props.setProperty("publication.autocreate.mode", "filtered");
    props.setProperty("snapshot.mode", "initial_only");
    // Larger batches and queue than the defaults (2048 / 8192): Debezium's throughput setting.
    props.setProperty("max.batch.size", "20480");
    props.setProperty("max.queue.size", "81920");

    AtomicLong rows = new AtomicLong();
    AtomicLong firstAt = new AtomicLong();
    AtomicLong lastAt = new AtomicLong();
    CountDownLatch done = new CountDownLatch(1);
    long started = System.nanoTime();
    DebeziumEngine<ChangeEvent<SourceRecord, SourceRecord>> engine = DebeziumEngine.create(Connect.class)
        .using(props)
        .notifying((records, committer) -> {
          for (ChangeEvent<SourceRecord, SourceRecord> event : records) {
            SourceRecord r = event.value();
            if (r != null && r.value() instanceof Struct value && value.schema().field("op") != null && "r".equals(value.getString("op"))) {
              long n = rows.incrementAndGet();
              if (n == 1) firstAt.set(System.nanoTime());
              if (n == expected) {
                lastAt.set(System.nanoTime());
                done.countDown();
              }
            }
            committer.markProcessed(event);
          }
          committer.markBatchFinished();
        })
        .using((success, message, error) -> done.countDown())
        .build();
    ExecutorService executor = Executors.newSingleThreadExecutor();
    executor.execute(engine);
    if (!done.await(30, TimeUnit.MINUTES)) throw new IllegalStateException("no complete snapshot within 30 minutes");
    engine.close();
    executor.shutdown();
    executor.awaitTermination(1, TimeUnit.MINUTES);
    if (rows.get() != expected) {
      System.err.println("Debezium delivered " + rows.get() + " snapshot records of " + expected);
      System.exit(1);
    }
    System.out.println(
        "{\"ms\":" + (lastAt.get() - started) / 1_000_000.0 + ",\"firstRecordMs\":" + (firstAt.get() - started) / 1_000_000.0 + ",\"rows\":" + rows.get() + "}");
    System.exit(0);
  }
}
