// Prints `<path> <fingerprint>` for each Avro schema file given: Apache Avro's
// SchemaNormalization.parsingFingerprint64, as 16 hex digits of the little-endian bytes a
// single-object message carries. Run by tests/schema_evolution.rs (`java -cp <avro jars>
// Fingerprints.java <files>`).
import java.io.File;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;

public class Fingerprints {
    public static void main(String[] args) throws Exception {
        for (String path : args) {
            Schema schema = new Schema.Parser().parse(new File(path));
            long fp = SchemaNormalization.parsingFingerprint64(schema);
            StringBuilder hex = new StringBuilder();
            for (int i = 0; i < 8; i++) {
                hex.append(String.format("%02x", (fp >>> (8 * i)) & 0xff));
            }
            System.out.println(path + " " + hex);
        }
    }
}
