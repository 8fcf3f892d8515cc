import path from "node:path";
import { defineConfig } from "prisma/config";

// Prisma's CLI would download a native schema engine from its own host, which offline machines cannot
// reach: unless PRISMA_SCHEMA_ENGINE_BINARY names one (an override; empty counts as unset), use the
// project's WASM engine. The CLI reads the variable after loading this file, for every command.
const projectEngine = !process.env.PRISMA_SCHEMA_ENGINE_BINARY;
if (projectEngine) process.env.PRISMA_SCHEMA_ENGINE_BINARY = path.join(import.meta.dirname, "scripts", "prisma-schema-engine");

/**
 * The CLI passes the datasource to the engine on its command line, which every local user can read
 * in /proc: our engine (node-postgres) takes the password from PGPASSWORD, inherited, instead. URLs
 * with another password than the first keep theirs (one PGPASSWORD for all).
 */
function passwordOffCommandLine(url: string | undefined): string {
  if (!url || !projectEngine) return url ?? "";
  const u = new URL(url);
  if (!u.password) return url;
  const password = decodeURIComponent(u.password);
  if (process.env.PGPASSWORD && process.env.PGPASSWORD !== password) return url;
  process.env.PGPASSWORD = password;
  u.password = "";
  return u.toString();
}

// DATABASE_URL is set by scripts/prepare.sh (embedded cluster) or by the operator (external server).
// SHADOW_DATABASE_URL is only needed by `migrate diff --from-migrations` (the schema/migrations test).
const shadowDatabaseUrl = passwordOffCommandLine(process.env.SHADOW_DATABASE_URL);
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: {
    url: passwordOffCommandLine(process.env.DATABASE_URL),
    ...(shadowDatabaseUrl ? { shadowDatabaseUrl } : {}),
  },
});
