import { defineConfig } from "prisma/config";

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
