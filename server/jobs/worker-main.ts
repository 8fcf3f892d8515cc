/** `npm run worker`: the background jobs alone, for scale-out (run the portal with VMDESK_WORKER=off). */
import { prepareDatabaseUrl } from "../db/startup.ts";
import { log } from "../log.ts";
import { startBackground } from "./background.ts";

const stopDb = prepareDatabaseUrl();
const background = await startBackground();
log.info({ worker: background.worker.id }, "vmdesk worker running");
const shutdown = async () => {
  await background.stop();
  stopDb();
  process.exit(0);
};
process.once("SIGINT", () => void shutdown());
process.once("SIGTERM", () => void shutdown());
