import { defineConfig } from "prisma/config";

// DATABASE_URL is set by scripts/prepare.sh (embedded cluster) or by the operator (external server).
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
