import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;

/**
 * An in-memory MongoDB-wire server for migrator's tests and demo: mongo-java-server answering as
 * MongoDB 5.0 (wire version 13, which current pymongo requires; the library's own "5.0" mode says 8).
 * With "oplog" as the third argument the server keeps an oplog and serves change streams (a MongoDB
 * source); without it the oplog stays off, because an in-memory oplog keeps every write forever.
 * Usage: java -cp classes:lib/* MongoWireServer HOST PORT [oplog]
 */
public final class MongoWireServer {
    public static void main(String[] args) throws Exception {
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 27017;
        boolean oplog = args.length > 2 && args[2].equals("oplog");
        MongoVersion v5 = new MongoVersion() {
            public List<Integer> getVersionArray() { return List.of(5, 0, 0); }
            public int getWireVersion() { return 13; }
        };
        MongoServer server = new MongoServer(new MemoryBackend().version(v5));
        if (oplog) {
            server.enableOplog();
        }
        server.bind(host, port);
        System.out.println("listening on " + host + ":" + port + (oplog ? " with an oplog" : ""));
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        Thread.currentThread().join();
    }
}
