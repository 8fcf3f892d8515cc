// CLI for the embedded PostgreSQL cluster: `db.ts start|stop|url` (used by the shell scripts).
import { embeddedPaths, startEmbeddedPostgres, stopEmbeddedPostgres } from "../server/db/embedded-postgres.ts";

const dataDir = process.env.VMDESK_DATA_DIR ?? ".vmdesk";
const command = process.argv[2];
if (command === "start") console.log(startEmbeddedPostgres(dataDir).url);
else if (command === "stop") stopEmbeddedPostgres(dataDir);
else if (command === "url") console.log(embeddedPaths(dataDir).url);
else {
  console.error("usage: db.ts start|stop|url");
  process.exit(2);
}
