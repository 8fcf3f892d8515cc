/** schema.prisma and the committed migrations must describe the same database. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { freshDatabase, repoRoot } from "../../support/harness.ts";

function migrateDiff(schemaPath: string): { status: number | null; out: string } {
  const url = freshDatabase("vmdesk_it_migrations");
  const shadow = freshDatabase("vmdesk_it_migrations_shadow");
  const r = spawnSync(
    path.join(repoRoot, "node_modules/.bin/prisma"),
    ["migrate", "diff", "--from-migrations", "prisma/migrations", "--to-schema", schemaPath, "--exit-code"],
    { cwd: repoRoot, env: { ...process.env, DATABASE_URL: url, SHADOW_DATABASE_URL: shadow, CHECKPOINT_DISABLE: "1" }, encoding: "utf8" },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("migrations", () => {
  it("match schema.prisma exactly", () => {
    const r = migrateDiff("prisma/schema.prisma");
    expect(r.out).not.toMatch(/\[\+\]|\[-\]|\[\*\]/);
    expect(r.status).toBe(0);
  });

  it("the check notices a schema change that has no migration", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmdesk-schema-"));
    const changed = path.join(dir, "schema.prisma");
    fs.writeFileSync(changed, fs.readFileSync(path.join(repoRoot, "prisma/schema.prisma"), "utf8").replace("model Host {", "model Host {\n  unmigratedColumn String?"));
    const r = migrateDiff(changed);
    expect(r.status).toBe(2);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
