// Apache Avro's SchemaCompatibility, the check a Confluent-API schema registry runs for the
// BACKWARD level: can the first schema given (the reader, the current .avsc) read data written
// with each of the others? Prints `<path> COMPATIBLE` or `<path> INCOMPATIBLE <what>` per
// writer. Run by tests/schema_evolution.rs (`java -cp <avro jars> Compatibility.java
// <reader> <writers>`).
import java.io.File;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaPairCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;

public class Compatibility {
    public static void main(String[] args) throws Exception {
        Schema reader = new Schema.Parser().parse(new File(args[0]));
        for (int i = 1; i < args.length; i++) {
            Schema writer = new Schema.Parser().parse(new File(args[i]));
            SchemaPairCompatibility result =
                SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
            if (result.getType() == SchemaCompatibilityType.COMPATIBLE) {
                System.out.println(args[i] + " COMPATIBLE");
            } else {
                String what = result.getResult().getIncompatibilities().toString()
                    .replace('\n', ' ');
                System.out.println(args[i] + " INCOMPATIBLE " + what);
            }
        }
    }
}
