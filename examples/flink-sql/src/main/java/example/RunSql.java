package example;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;

/**
 * Runs a Flink SQL script on a local Flink (a MiniCluster in this JVM), as the SQL client
 * would: statements end with {@code ;}, {@code --} starts a comment, and {@code ${NAME}} is
 * replaced by the value given as {@code NAME=value}. Waits for the jobs the script starts.
 *
 * <p>Usage: {@code RunSql SCRIPT.sql [NAME=value …]}
 */
public final class RunSql {
  public static void main(String[] args) throws Exception {
    String script = Files.readString(Path.of(args[0]));
    for (int i = 1; i < args.length; i++) {
      String[] pair = args[i].split("=", 2);
      script = script.replace("${" + pair[0] + "}", pair[1]);
    }
    Configuration config = new Configuration();
    config.set(CoreOptions.DEFAULT_PARALLELISM, 1);
    TableEnvironment sql = TableEnvironment.create(EnvironmentSettings.newInstance().inStreamingMode().withConfiguration(config).build());
    List<TableResult> jobs = new ArrayList<>();
    for (String statement : statements(script)) {
      TableResult result = sql.executeSql(statement);
      if (result.getJobClient().isPresent()) jobs.add(result);
    }
    for (TableResult job : jobs) job.await();
    System.out.println("done");
  }

  /** The script's statements, comments removed. */
  static List<String> statements(String script) {
    StringBuilder text = new StringBuilder();
    for (String line : script.split("\n")) {
      int comment = line.indexOf("--");
      text.append(comment >= 0 ? line.substring(0, comment) : line).append('\n');
    }
    List<String> out = new ArrayList<>();
    for (String statement : text.toString().split(";")) if (!statement.isBlank()) out.add(statement.trim());
    return out;
  }
}
