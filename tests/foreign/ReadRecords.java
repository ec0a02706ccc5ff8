// A foreign reader with Apache Avro for Java and nothing of pgmeta's: decodes record values
// given as lines "<topic> <partition> <offset> <hex value>" (from tests/foreign_readers.rs)
// and prints one JSON line per record: {"topic", "partition", "offset", "value"}.
//   single-object framing: org.apache.avro.message.BinaryMessageDecoder, the writer schema
//     found by fingerprint among the .avsc files of SCHEMAS_DIR and SCHEMAS_DIR/history;
//   Schema Registry framing: the writer schema fetched from REGISTRY_URL/schemas/ids/<id>,
//     the datum read with GenericDatumReader.
// Exits 1 when any record does not decode.
//
// usage: java -cp <avro jars> ReadRecords.java RECORDS_FILE SCHEMAS_DIR [REGISTRY_URL]
import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;

public class ReadRecords {
    public static void main(String[] args) throws Exception {
        File schemasDir = new File(args[1]);
        String registry = args.length > 2 ? args[2] : null;
        SchemaStore.Cache store = new SchemaStore.Cache();
        Map<String, Schema> current = new HashMap<>();
        for (File f : schemasDir.listFiles((d, n) -> n.endsWith(".avsc"))) {
            Schema s = new Schema.Parser().parse(f);
            store.addSchema(s);
            current.put(s.getFullName(), s);
        }
        File[] history = new File(schemasDir, "history").listFiles(File::isDirectory);
        for (File dir : history) {
            for (File f : dir.listFiles((d, n) -> n.endsWith(".avsc"))) {
                store.addSchema(new Schema.Parser().parse(f));
            }
        }
        HttpClient http = HttpClient.newHttpClient();
        Map<Integer, Schema> byId = new HashMap<>();
        int failed = 0;
        for (String line : Files.readAllLines(new File(args[0]).toPath())) {
            String[] parts = line.split(" ");
            byte[] value = HexFormat.of().parseHex(parts[3]);
            try {
                Object record;
                if (value[0] == 0 && registry != null) {
                    int id = ByteBuffer.wrap(value, 1, 4).getInt();
                    Schema writer = byId.get(id);
                    if (writer == null) {
                        HttpResponse<String> r = http.send(
                            HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id)).build(),
                            HttpResponse.BodyHandlers.ofString());
                        String text = new com.fasterxml.jackson.databind.ObjectMapper()
                            .readTree(r.body()).get("schema").asText();
                        writer = new Schema.Parser().parse(text);
                        byId.put(id, writer);
                    }
                    GenericDatumReader<Object> reader = new GenericDatumReader<>(writer);
                    record = reader.read(null,
                        DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, null));
                } else {
                    // The reader schema: the current version of the record the topic carries.
                    Schema readerSchema = current.get(readerName(parts[0]));
                    BinaryMessageDecoder<Object> decoder =
                        new BinaryMessageDecoder<>(GenericData.get(), readerSchema, store);
                    record = decoder.decode(value);
                }
                System.out.println("{\"topic\": \"" + parts[0] + "\", \"partition\": " + parts[1]
                    + ", \"offset\": " + parts[2] + ", \"value\": " + GenericData.get().toString(record) + "}");
            } catch (Exception e) {
                failed++;
                System.err.println(parts[0] + "/" + parts[1] + "@" + parts[2] + ": " + e);
            }
        }
        System.exit(failed == 0 ? 0 : 1);
    }

    /// pgmeta's topics end in .metadata, .lineage, .usage and .schema-changes.
    static String readerName(String topic) {
        if (topic.endsWith(".lineage")) return "io.pgmeta.LineageEvent";
        if (topic.endsWith(".usage")) return "io.pgmeta.UsageEvent";
        if (topic.endsWith(".schema-changes")) return "io.pgmeta.SchemaChangeEvent";
        return "io.pgmeta.MetadataEvent";
    }
}
