package dev.refstream.interop;

import java.io.BufferedReader;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.json.JsonConverter;

/**
 * Reads records of a Debezium topic with schemas through Kafka Connect's JsonConverter
 * ({@code schemas.enable=true}), as a Connect sink connector would receive them.
 *
 * <p>Arguments: the topic name and a file with one record per line, {@code <key>\t<value>} in
 * base64 ({@code -} for a null value). Prints one JSON line per record: the key and value schema
 * names, the Connect types of the {@code after} struct's fields ({@code name:TYPE[:logical]}),
 * {@code op}, and {@code before} / {@code after} with every value as text (int64 digits,
 * Decimal and VariableScaleDecimal as plain text, bytes as PostgreSQL's {@code \x} hex,
 * ZonedTimestamp as µs since the epoch). A record the converter refuses ends the program with its exception.
 */
public final class ReadWithJsonConverter {
  private ReadWithJsonConverter() {}

  public static void main(String[] args) throws Exception {
    String topic = args[0];
    JsonConverter keys = new JsonConverter();
    keys.configure(Map.of("schemas.enable", "true"), true);
    JsonConverter values = new JsonConverter();
    values.configure(Map.of("schemas.enable", "true"), false);
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    try (BufferedReader in = Files.newBufferedReader(Path.of(args[1]), StandardCharsets.UTF_8)) {
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        if (line.isEmpty()) continue;
        String[] parts = line.split("\t", -1);
        SchemaAndValue key = keys.toConnectData(topic, Base64.getDecoder().decode(parts[0]));
        SchemaAndValue value = parts[1].equals("-") ? SchemaAndValue.NULL : values.toConnectData(topic, Base64.getDecoder().decode(parts[1]));
        StringBuilder json = new StringBuilder("{\"keySchema\":").append(quote(key.schema().name()));
        json.append(",\"key\":").append(render(key.schema(), key.value()));
        if (value.value() == null) {
          json.append(",\"value\":null}");
        } else {
          Struct envelope = (Struct) value.value();
          Schema afterSchema = value.schema().field("after").schema();
          List<String> fields = new ArrayList<>();
          for (Field f : afterSchema.fields()) {
            fields.add(f.name() + ":" + f.schema().type() + (f.schema().name() != null ? ":" + f.schema().name() : ""));
          }
          json.append(",\"valueSchema\":").append(quote(value.schema().name()));
          json.append(",\"valueName\":").append(quote(afterSchema.name()));
          json.append(",\"fields\":[");
          for (int i = 0; i < fields.size(); i++) json.append(i > 0 ? "," : "").append(quote(fields.get(i)));
          json.append("],\"op\":").append(quote(envelope.getString("op")));
          json.append(",\"before\":").append(render(afterSchema, envelope.get("before")));
          json.append(",\"after\":").append(render(afterSchema, envelope.get("after")));
          json.append("}");
        }
        out.println(json);
      }
    }
    out.flush();
  }

  /** A value as JSON: structs as objects, arrays as arrays, everything else as text. */
  private static String render(Schema schema, Object value) {
    if (value == null) return "null";
    if ("io.debezium.data.VariableScaleDecimal".equals(schema.name())) {
      Struct struct = (Struct) value;
      return quote(new BigDecimal(new BigInteger(struct.getBytes("value")), struct.getInt32("scale")).toPlainString());
    }
    if (value instanceof Struct struct) {
      StringBuilder b = new StringBuilder("{");
      List<Field> fields = struct.schema().fields();
      for (int i = 0; i < fields.size(); i++) {
        Field f = fields.get(i);
        b.append(i > 0 ? "," : "").append(quote(f.name())).append(':').append(render(f.schema(), struct.get(f)));
      }
      return b.append('}').toString();
    }
    if (value instanceof List<?> list) {
      StringBuilder b = new StringBuilder("[");
      for (int i = 0; i < list.size(); i++) b.append(i > 0 ? "," : "").append(render(schema.valueSchema(), list.get(i)));
      return b.append(']').toString();
    }
    if (value instanceof BigDecimal decimal) return quote(decimal.toPlainString());
    if (value instanceof byte[] bytes) return quote("\\x" + HexFormat.of().formatHex(bytes));
    if ("io.debezium.time.ZonedTimestamp".equals(schema.name())) {
      Instant instant = Instant.parse((String) value);
      return quote(String.valueOf(instant.getEpochSecond() * 1_000_000L + instant.getNano() / 1_000));
    }
    return quote(String.valueOf(value));
  }

  private static String quote(String text) {
    if (text == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\t' -> b.append("\\t");
        case '\r' -> b.append("\\r");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    return b.append('"').toString();
  }
}
