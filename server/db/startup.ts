/**
 * Decides the database at process start: DATABASE_URL when set (an external server, shared by several
 * portal instances), else the embedded cluster in the data directory, started now and stopped when
 * this process stops (only if this process started it).
 */
import { config } from "../config.ts";
import { embeddedPaths, startEmbeddedPostgres, stopEmbeddedPostgres } from "./embedded-postgres.ts";
import fs from "node:fs";
import path from "node:path";

export function prepareDatabaseUrl(): () => void {
  if (process.env.DATABASE_URL) return () => undefined;
  const dataDir = config().dataDir;
  const wasRunning = fs.existsSync(path.join(embeddedPaths(dataDir).dataDir, "postmaster.pid"));
  process.env.DATABASE_URL = startEmbeddedPostgres(dataDir).url;
  return wasRunning ? () => undefined : () => stopEmbeddedPostgres(dataDir);
}
