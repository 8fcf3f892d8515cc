/**
 * Prisma's CLI works with no schema engine configured and no way to download one: prisma.config.ts
 * falls back to the project's WASM engine (scripts/prisma-schema-engine), so `npm run up` and
 * `npm test` need nothing exported on an offline machine.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { emptyDatabase, repoRoot } from "../../support/harness.ts";

/** Runs the Prisma CLI as a newcomer would: no engine variable, Prisma's binary host unreachable. */
function prisma(args: string[], env: Record<string, string>, engineVariable?: string): { status: number | null; out: string } {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    CHECKPOINT_DISABLE: "1",
    // Any download attempt goes to a closed local port instead of binaries.prisma.sh.
    PRISMA_ENGINES_MIRROR: "http://127.0.0.1:9",
    DEBUG: "prisma:fetch-engine:env",
  };
  delete childEnv.PRISMA_SCHEMA_ENGINE_BINARY;
  if (engineVariable !== undefined) childEnv.PRISMA_SCHEMA_ENGINE_BINARY = engineVariable;
  const r = spawnSync(path.join(repoRoot, "node_modules/.bin/prisma"), args, { cwd: repoRoot, env: childEnv, encoding: "utf8", timeout: 110_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const projectEngine = path.join(repoRoot, "scripts", "prisma-schema-engine");

describe("Prisma's CLI without PRISMA_SCHEMA_ENGINE_BINARY", () => {
  for (const [label, engineVariable] of [["unset", undefined], ["empty", ""]] as const) {
    it(`migrate deploy applies every migration to a fresh database (variable ${label})`, async () => {
      const url = emptyDatabase("vmdesk_it_engine_fallback");
      const r = prisma(["migrate", "deploy"], { DATABASE_URL: url }, engineVariable);
      expect(r.out).toContain(projectEngine);
      expect(r.status, r.out).toBe(0);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL");
        const { rows: tables } = await client.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'User'");
        expect(rows[0]!.n).toBeGreaterThan(0);
        expect(tables).toHaveLength(1);
      } finally {
        await client.end();
      }
    });
  }

  it("migrate diff compares the migrations with schema.prisma", () => {
    const url = emptyDatabase("vmdesk_it_engine_fallback");
    const shadow = emptyDatabase("vmdesk_it_engine_fallback_shadow");
    const r = prisma(
      ["migrate", "diff", "--from-migrations", "prisma/migrations", "--to-schema", "prisma/schema.prisma", "--exit-code"],
      { DATABASE_URL: url, SHADOW_DATABASE_URL: shadow },
    );
    expect(r.out).toContain(projectEngine);
    expect(r.status, r.out).toBe(0);
  });

  it("the database password never appears on a command line (any local user can read /proc/*/cmdline)", async () => {
    const url = emptyDatabase("vmdesk_it_engine_fallback");
    const password = new URL(url).password;
    expect(password.length).toBeGreaterThan(0);
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url, CHECKPOINT_DISABLE: "1" };
    delete env.PRISMA_SCHEMA_ENGINE_BINARY;
    const child = spawn(path.join(repoRoot, "node_modules/.bin/prisma"), ["migrate", "deploy"], { cwd: repoRoot, env, stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    let done = false;
    void exited.then(() => (done = true));
    const seen = new Set<string>();
    while (!done) {
      for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
        try {
          seen.add(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "));
        } catch {
          // the process ended between listing and reading
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await exited).toBe(0);
    const engines = [...seen].filter((c) => c.includes("prisma-schema-engine.mjs"));
    expect(engines.length).toBeGreaterThan(0);
    expect([...seen].filter((c) => c.includes(password))).toEqual([]);
  });

  it("an explicit PRISMA_SCHEMA_ENGINE_BINARY still wins", () => {
    const r = prisma(["migrate", "status"], { DATABASE_URL: emptyDatabase("vmdesk_it_engine_fallback") }, "/nonexistent/schema-engine");
    expect(r.out).toContain("/nonexistent/schema-engine");
    expect(r.status).not.toBe(0);
  });
});
