import path from "node:path";
import { defineConfig } from "prisma/config";

// Prisma's CLI would download a native schema engine from its own host, which offline machines cannot
// reach: unless PRISMA_SCHEMA_ENGINE_BINARY names one (an override; empty counts as unset), use the
// project's WASM engine. The CLI reads the variable after loading this file, for every command.
if (!process.env.PRISMA_SCHEMA_ENGINE_BINARY) {
  process.env.PRISMA_SCHEMA_ENGINE_BINARY = path.join(import.meta.dirname, "scripts", "prisma-schema-engine");
}

// DATABASE_URL is set by scripts/prepare.sh (embedded cluster) or by the operator (external server).
// SHADOW_DATABASE_URL is only needed by `migrate diff --from-migrations` (the schema/migrations test).
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: {
    url: process.env.DATABASE_URL ?? "",
    ...(process.env.SHADOW_DATABASE_URL ? { shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL } : {}),
  },
});
