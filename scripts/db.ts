// CLI for the embedded PostgreSQL cluster: `db.ts start|stop|url` (used by the shell scripts). The URL
// printed carries the generated password: keep it out of command lines and logs.
import { embeddedUrl, startEmbeddedPostgres, stopEmbeddedPostgres } from "../server/db/embedded-postgres.ts";

const dataDir = process.env.VMDESK_DATA_DIR ?? ".vmdesk";
const command = process.argv[2];
try {
  if (command === "start") console.log(startEmbeddedPostgres(dataDir).url);
  else if (command === "stop") stopEmbeddedPostgres(dataDir);
  else if (command === "url") console.log(embeddedUrl(dataDir));
  else {
    console.error("usage: db.ts start|stop|url");
    process.exit(2);
  }
} catch (err) {
  console.error(`db.ts ${command}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
