import io.debezium.embedded.Connect;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
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
    String table = args[1];
    long expected = Long.parseLong(args[2]);
    Properties props = PeerConfig.connector(args[0], table, "dbz_peer_" + ProcessHandle.current().pid());
    props.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
    props.setProperty("offset.flush.interval.ms", "60000");
    props.setProperty("slot.drop.on.stop", "true");
    props.setProperty("snapshot.mode", "initial_only");

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
