import io.debezium.embedded.Connect;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.source.SourceRecord;

/**
 * Debezium embedded streaming one table's changes (pgoutput) to an in-process consumer, for
 * bench/peers/changes.ts. Marker rows (negative id; name 'refstream-bench:probe', ':from' or
 * ':end') steer it:
 *
 *   DebeziumStreamPeer url schema.table name prepare offsetFile
 *     creates slot and publication `name` (no snapshot), prints "ready" at the first marker
 *     and stops with its offset stored in offsetFile and the slot kept: a later run reads
 *     everything committed since.
 *   DebeziumStreamPeer url schema.table name throughput offsetFile
 *     resumes there and counts the changes between the ':from' and ':end' markers.
 *   DebeziumStreamPeer url schema.table name latency
 *     streams from a new slot, prints "ready" at the first marker, and takes each change's
 *     latency: when it was handed to the consumer minus its updated_at (clock_timestamp() of
 *     the writing statement).
 *
 * throughput and latency print {"changes", "ms", "cpuMs", "latencyMs"?} (ms and process CPU
 * time from ':from' to ':end') and then wait for a line on stdin before they stop (the
 * caller reads the walsender's CPU time meanwhile); the slot is dropped on stop.
 */
public final class DebeziumStreamPeer {
  private static final String MARKER = "refstream-bench:";

  public static void main(String[] args) throws Exception {
    String url = args[0];
    String table = args[1];
    String name = args[2];
    String mode = args[3];
    Properties props = PeerConfig.connector(url, table, name);
    props.setProperty("snapshot.mode", "no_data");
    if (mode.equals("latency")) {
      props.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
    } else {
      props.setProperty("offset.storage", "org.apache.kafka.connect.storage.FileOffsetBackingStore");
      props.setProperty("offset.storage.file.filename", args[4]);
    }
    props.setProperty("offset.flush.interval.ms", "1000");
    props.setProperty("slot.drop.on.stop", mode.equals("prepare") ? "false" : "true");
    boolean timed = mode.equals("latency");

    CountDownLatch ready = new CountDownLatch(1);
    CountDownLatch ended = new CountDownLatch(1);
    CountDownLatch failed = new CountDownLatch(1);
    State state = new State(timed);
    DebeziumEngine<ChangeEvent<SourceRecord, SourceRecord>> engine = DebeziumEngine.create(Connect.class)
        .using(props)
        .notifying((records, committer) -> {
          long handedAtMicros = timed ? micros(Instant.now()) : 0;
          for (ChangeEvent<SourceRecord, SourceRecord> event : records) {
            SourceRecord record = event.value();
            // tombstones (null value) follow deletes for Kafka compaction: not a change
            if (record != null && record.value() instanceof Struct value && value.schema().field("op") != null) {
              Struct row = value.getStruct("after") != null ? value.getStruct("after") : value.getStruct("before");
              long id = row.getInt64("id");
              if (id < 0) {
                String marker = row.getString("name");
                if (marker.startsWith(MARKER)) {
                  ready.countDown();
                  if (marker.equals(MARKER + "from")) state.from();
                  else if (marker.equals(MARKER + "end") && state.end()) ended.countDown();
                }
              } else if (state.counting) {
                state.changes++;
                Struct after = value.getStruct("after");
                if (timed && after != null) state.latency(handedAtMicros - micros(Instant.parse(after.getString("updated_at"))));
              }
            }
            committer.markProcessed(event);
          }
          committer.markBatchFinished();
        })
        .using((success, message, error) -> {
          if (!success) {
            System.err.println("Debezium stopped: " + message + (error != null ? " " + error : ""));
            failed.countDown();
          }
        })
        .build();
    ExecutorService executor = Executors.newSingleThreadExecutor();
    executor.execute(engine);
    await(ready, failed, "no marker row within 10 minutes");
    if (mode.equals("prepare")) {
      System.out.println("ready");
      Thread.sleep(1500); // one offset flush interval: the marker's offset is stored
      stop(engine, executor);
      return;
    }
    System.out.println("ready");
    await(ended, failed, "no end marker within 10 minutes");
    StringBuilder out = new StringBuilder();
    out.append("{\"changes\":").append(state.changes).append(",\"ms\":").append(state.ms()).append(",\"cpuMs\":").append(state.cpuMs());
    if (timed) out.append(",\"latencyMs\":").append(state.latencyJson());
    System.out.println(out.append('}'));
    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
    stop(engine, executor);
  }

  private static long micros(Instant t) {
    return t.getEpochSecond() * 1_000_000L + t.getNano() / 1000;
  }

  private static void await(CountDownLatch latch, CountDownLatch failed, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
    while (!latch.await(100, TimeUnit.MILLISECONDS)) {
      if (failed.getCount() == 0) System.exit(1);
      if (System.nanoTime() > deadline) throw new IllegalStateException(what);
    }
  }

  private static void stop(DebeziumEngine<?> engine, ExecutorService executor) throws Exception {
    engine.close();
    executor.shutdown();
    executor.awaitTermination(1, TimeUnit.MINUTES);
    System.exit(0);
  }

  /** What the consumer counted between the markers (only the engine's consumer thread writes it). */
  private static final class State {
    final boolean timed;
    boolean counting;
    long changes;
    long fromNanos;
    long endNanos;
    double fromCpuMs;
    double endCpuMs;
    long[] latencies = new long[1 << 16];
    int latencyCount;

    State(boolean timed) {
      this.timed = timed;
    }

    void from() {
      counting = true;
      fromNanos = System.nanoTime();
      fromCpuMs = PeerConfig.processCpuMs();
    }

    boolean end() {
      if (!counting) return false;
      counting = false;
      endNanos = System.nanoTime();
      endCpuMs = PeerConfig.processCpuMs();
      return true;
    }

    void latency(long micros) {
      if (latencyCount == latencies.length) latencies = Arrays.copyOf(latencies, latencies.length * 2);
      latencies[latencyCount++] = micros;
    }

    double ms() {
      return (endNanos - fromNanos) / 1e6;
    }

    double cpuMs() {
      return endCpuMs - fromCpuMs;
    }

    String latencyJson() {
      long[] sorted = Arrays.copyOf(latencies, latencyCount);
      Arrays.sort(sorted);
      return "{\"count\":" + latencyCount + ",\"p50\":" + pick(sorted, 50) + ",\"p99\":" + pick(sorted, 99) + ",\"max\":" + pick(sorted, 100) + "}";
    }

    private static double pick(long[] sorted, int percentile) {
      if (sorted.length == 0) return -1;
      return sorted[Math.min(sorted.length - 1, (int) Math.floor(percentile / 100.0 * sorted.length))] / 1000.0;
    }
  }
}
