// The anchor for bench/memory.ts: a compiled Bun binary that opens a SQLite database and
// serves HTTP on a Unix socket and on loopback, and does nothing else.
import { Database } from "bun:sqlite";

const [socket, file] = process.argv.slice(2) as [string, string];
const db = new Database(file, { create: true });
db.run("PRAGMA journal_mode = WAL");
db.run("CREATE TABLE IF NOT EXISTS t (key TEXT PRIMARY KEY, value TEXT)");
const answer = () => new Response(JSON.stringify(db.query("SELECT count(*) AS n FROM t").get()));
Bun.serve({ unix: socket, fetch: answer });
Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: answer });
