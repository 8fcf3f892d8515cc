/**
 * The import rules of STYLE.md, checked by reading every source file's import specifiers (static
 * imports, re-exports and dynamic `import()`), resolved to repository paths.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

interface Edge {
  from: string;
  spec: string;
  /** Repository-relative path without extension, or null for a package. */
  target: string | null;
  typeOnly: boolean;
  dynamic: boolean;
}

const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;

function walk(dir: string): string[] {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" || e.name === "build" || e.name === "generated" ? [] : walk(rel);
    return SOURCE.test(e.name) && !e.name.endsWith(".d.ts") ? [rel] : [];
  });
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** Every import specifier in `src`, with whether it is erased at compile time. */
function parseImports(src: string): Array<{ spec: string; typeOnly: boolean; dynamic: boolean }> {
  const code = stripComments(src);
  const out: Array<{ spec: string; typeOnly: boolean; dynamic: boolean }> = [];
  const fromClause = /\b(import|export)\s+(type\s+)?([\w*$]+(?:\s*,\s*)?)?(\{[^}]*\}|\*\s+as\s+[\w$]+|\*)?\s*from\s*["']([^"']+)["']/g;
  for (const m of code.matchAll(fromClause)) {
    const names = m[4]?.startsWith("{") ? m[4].slice(1, -1).split(",").map((s) => s.trim()).filter(Boolean) : [];
    const allNamedAreTypes = !m[3] && names.length > 0 && names.every((n) => n.startsWith("type "));
    out.push({ spec: m[5]!, typeOnly: Boolean(m[2]) || allNamedAreTypes, dynamic: false });
  }
  for (const m of code.matchAll(/\bimport\s+["']([^"']+)["']/g)) out.push({ spec: m[1]!, typeOnly: false, dynamic: false });
  for (const m of code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) out.push({ spec: m[1]!, typeOnly: false, dynamic: true });
  for (const m of code.matchAll(/\brequire\s*\(\s*["']([^"']+)["']\s*\)/g)) out.push({ spec: m[1]!, typeOnly: false, dynamic: true });
  return out;
}

function resolve(from: string, spec: string): string | null {
  let abs: string;
  if (spec.startsWith("@/")) abs = path.join(root, spec.slice(2));
  else if (spec.startsWith(".")) abs = path.resolve(root, path.dirname(from), spec);
  else return null;
  return path.relative(root, abs).split(path.sep).join("/").replace(/\.(ts|tsx|js|mjs|mts)$/, "");
}

const files = [...walk("app"), ...walk("server"), ...walk("prisma")];
const edges: Edge[] = files.flatMap((from) =>
  parseImports(fs.readFileSync(path.join(root, from), "utf8")).map((i) => ({ from, ...i, target: resolve(from, i.spec) })),
);
const sourceOf = (f: string) => fs.readFileSync(path.join(root, f), "utf8");
const isClientComponent = (f: string) => /^\s*(\/\*[\s\S]*?\*\/\s*|\/\/.*\n\s*)*["']use client["']/.test(sourceOf(f));
const under = (p: string | null, dir: string) => p !== null && (p === dir || p.startsWith(`${dir}/`));
const show = (e: Edge) => `${e.from}: ${e.typeOnly ? "import type" : e.dynamic ? "import()" : "import"} "${e.spec}"`;

/** Server components that check the session before rendering: the only app/ files outside app/api/ that may load next-auth's options. */
const SESSION_GATES = ["app/_lib/session.ts"];
/** The one module that changes the ledgers' usage columns (usedVms, usedVcpus, usedMemoryMiB, usedDiskGiB). */
const LEDGER_OWNER = "server/services/quota-service.ts";

/** Writes to a ledger usage column in `src`: SQL `"usedVms" = …`, or a Prisma `usedVms: …` that is not a select (true), a type or a rename. */
function ledgerWrites(src: string): string[] {
  const code = stripComments(src);
  const sql = code.match(/"used(?:Vms|Vcpus|MemoryMiB|DiskGiB)"\s*=(?!=)/g) ?? [];
  const prisma = code.match(/\bused(?:Vms|Vcpus|MemoryMiB|DiskGiB)\s*:(?!\s*(?:true\b|false\b|number\b|_))\s*[^,;}\n]*/g) ?? [];
  return [...sql, ...prisma];
}

const SERVER_INTERNALS = ["server/db", "server/services", "server/jobs", "server/hypervisor", "server/console", "prisma"];
const DB_PACKAGES = /^(@prisma\/|prisma$|pg$|pg\/|@electric-sql\/)/;

describe("the scanner", () => {
  it("reads static, multi-line, type-only, re-export and dynamic imports", () => {
    const parsed = parseImports(`
      import a from "a";
      import type { B } from "b";
      import { type C, type D } from "c";
      import { type E, F } from "e";
      import {
        G,
        H,
      } from "g";
      import * as I from "i";
      import "./side-effect.css";
      export { J } from "./j.ts";
      export type { K } from "./k.ts";
      export * from "./l.ts";
      // import { Commented } from "commented";
      /* import { Blocked } from "blocked"; */
      const m = await import("./m.ts");
    `);
    expect(parsed).toEqual([
      { spec: "a", typeOnly: false, dynamic: false },
      { spec: "b", typeOnly: true, dynamic: false },
      { spec: "c", typeOnly: true, dynamic: false },
      { spec: "e", typeOnly: false, dynamic: false },
      { spec: "g", typeOnly: false, dynamic: false },
      { spec: "i", typeOnly: false, dynamic: false },
      { spec: "./j.ts", typeOnly: false, dynamic: false },
      { spec: "./k.ts", typeOnly: true, dynamic: false },
      { spec: "./l.ts", typeOnly: false, dynamic: false },
      { spec: "./side-effect.css", typeOnly: false, dynamic: false },
      { spec: "./m.ts", typeOnly: false, dynamic: true },
    ]);
  });

  it("recognises ledger writes, and not selects, types, renames or reads", () => {
    expect(ledgerWrites(`await tx.$executeRaw\`UPDATE "Quota" SET "usedVms" = GREATEST(0, "usedVms" - 1)\`;`)).toHaveLength(1);
    expect(ledgerWrites("data: { usedVcpus: { increment: cost.vcpus } }")).toHaveLength(1);
    expect(ledgerWrites("data: { usedMemoryMiB: u.memoryMiB, usedDiskGiB: 0 }")).toHaveLength(2);
    expect(ledgerWrites("const data = (d) => ({ usedVms: d.actual.vms });")).toHaveLength(1);
    expect(
      ledgerWrites(`
        const select = { usedVms: true, usedVcpus: true };
        type Row = { usedMemoryMiB: number; usedDiskGiB?: number };
        const { usedVms: _uv, ...rest } = c;
        const used = { vms: c.usedVms, vcpus: q?.usedVcpus ?? 0 };
        // usedVms: { increment: 1 } in a comment
        await tx.$queryRaw\`SELECT "usedVms", "usedVcpus" FROM "Quota" FOR UPDATE\`;
      `),
    ).toEqual([]);
  });

  it("finds the tree's imports (guards against scanning nothing)", () => {
    expect(files.filter((f) => f.startsWith("app/")).length).toBeGreaterThan(10);
    expect(files.filter((f) => f.startsWith("server/")).length).toBeGreaterThan(30);
    expect(edges.find((e) => e.from === "app/_lib/trpc.ts" && e.spec === "@/server/api/root")).toMatchObject({ target: "server/api/root", typeOnly: true });
    expect(edges.find((e) => e.from === "server/jobs/background.ts" && e.dynamic)).toMatchObject({ target: "server/hypervisor/libvirt/libvirt-host" });
    expect(edges.find((e) => e.from === "server/services/vm-service.ts" && e.spec === "../domain/policy.ts")).toMatchObject({ target: "server/domain/policy" });
  });
});

describe("import rules", () => {
  it("app/ never imports db, services, jobs, hypervisor, console or Prisma — not even types", () => {
    const bad = edges.filter((e) => e.from.startsWith("app/") && (SERVER_INTERNALS.some((d) => under(e.target, d)) || (e.target === null && DB_PACKAGES.test(e.spec))));
    expect(bad.map(show)).toEqual([]);
  });

  it("app/api/** may import server/api and server/auth only", () => {
    const bad = edges.filter((e) => e.from.startsWith("app/api/") && under(e.target, "server") && !under(e.target, "server/api") && !under(e.target, "server/auth"));
    expect(bad.map(show)).toEqual([]);
  });

  it("the rest of app/ takes only the AppRouter type from the server (session gates may load next-auth's options)", () => {
    const bad = edges.filter((e) => {
      if (!e.from.startsWith("app/") || e.from.startsWith("app/api/") || !under(e.target, "server")) return false;
      if (e.typeOnly && e.target === "server/api/root") return false;
      if (SESSION_GATES.includes(e.from) && e.target === "server/auth/next-auth") return false;
      return true;
    });
    expect(bad.map(show)).toEqual([]);
  });

  it("session gates are server code, never client components", () => {
    for (const gate of SESSION_GATES) {
      expect(fs.existsSync(path.join(root, gate)), gate).toBe(true);
      expect(isClientComponent(gate), gate).toBe(false);
    }
  });

  it('no "use client" module reaches server code at runtime, directly or through other app/ modules', () => {
    const valueEdges = edges.filter((e) => !e.typeOnly);
    const appFiles = files.filter((f) => f.startsWith("app/"));
    const fileOf = (target: string) => appFiles.find((f) => f.replace(/\.(ts|tsx|js|mjs|mts)$/, "") === target || f.replace(/\/index\.(ts|tsx)$/, "") === target);
    const bad: string[] = [];
    for (const client of appFiles.filter(isClientComponent)) {
      const seen = new Set<string>();
      const stack = [client];
      while (stack.length > 0) {
        const f = stack.pop()!;
        if (seen.has(f)) continue;
        seen.add(f);
        for (const e of valueEdges.filter((v) => v.from === f)) {
          if (under(e.target, "server") || under(e.target, "prisma")) bad.push(`${client} → ${show(e)}`);
          const next = e.target ? fileOf(e.target) : undefined;
          if (next) stack.push(next);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it("server/api and server/services never import server/hypervisor (requests record operations; workers perform them)", () => {
    const bad = edges.filter((e) => (e.from.startsWith("server/api/") || e.from.startsWith("server/services/")) && under(e.target, "server/hypervisor"));
    expect(bad.map(show)).toEqual([]);
  });

  it("nothing the API loads at runtime reaches the libvirt native binding (it must stay out of Next's bundle)", () => {
    const valueEdges = edges.filter((e) => !e.typeOnly);
    const fileOf = (target: string) => files.find((f) => f.replace(/\.(ts|tsx|js|mjs|mts)$/, "") === target);
    const seen = new Set<string>();
    const stack = files.filter((f) => f.startsWith("server/api/") || f.startsWith("app/"));
    const paths = new Map<string, string>(stack.map((f) => [f, f]));
    const bad: string[] = [];
    while (stack.length > 0) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const e of valueEdges.filter((v) => v.from === f)) {
        const next = e.target ? fileOf(e.target) : undefined;
        if (!next) continue;
        if (!paths.has(next)) paths.set(next, `${paths.get(f)} → ${next}`);
        if (under(e.target, "server/hypervisor/libvirt") || under(e.target, "server/jobs")) bad.push(paths.get(next)!);
        stack.push(next);
      }
    }
    expect(bad).toEqual([]);
  });

  it("server/domain imports nothing of ours outside server/domain, and does no I/O", () => {
    const bad = edges.filter(
      (e) => e.from.startsWith("server/domain/") && ((e.target !== null && !under(e.target, "server/domain")) || (e.target === null && (e.spec.startsWith("node:") || DB_PACKAGES.test(e.spec)))),
    );
    expect(bad.map(show)).toEqual([]);
  });

  it("server/hypervisor knows nothing of Prisma or the database, nor of the layers above it", () => {
    const bad = edges.filter(
      (e) =>
        e.from.startsWith("server/hypervisor/") &&
        ((e.target === null && DB_PACKAGES.test(e.spec)) ||
          ["prisma", "server/db", "server/services", "server/api", "server/jobs", "server/auth", "app"].some((d) => under(e.target, d))),
    );
    expect(bad.map(show)).toEqual([]);
  });

  it("HostPool is the hypervisor layer's: server/ reaches it only at server/hypervisor/host-pool.ts", () => {
    expect(fs.existsSync(path.join(root, "server/hypervisor/host-pool.ts"))).toBe(true);
    const bad = edges.filter((e) => e.from.startsWith("server/") && e.target === "server/jobs/host-pool");
    expect(bad.map(show)).toEqual([]);
    expect(edges.filter((e) => e.target === "server/hypervisor/host-pool").map((e) => e.from)).toEqual(expect.arrayContaining(["server/console/proxy.ts", "server/jobs/background.ts"]));
  });

  it("server/console takes host connections from server/hypervisor: of server/jobs it imports only the Clock type", () => {
    const bad = edges.filter((e) => e.from.startsWith("server/console/") && under(e.target, "server/jobs") && !(e.typeOnly && e.target === "server/jobs/clock"));
    expect(bad.map(show)).toEqual([]);
  });
});

describe("one owner per rule", () => {
  it(`only ${LEDGER_OWNER} writes the quota, class-budget and teaching ledgers' usage columns`, () => {
    expect(ledgerWrites(sourceOf(LEDGER_OWNER)).length).toBeGreaterThan(0);
    const bad = files.filter((f) => f.startsWith("server/") && f !== LEDGER_OWNER).flatMap((f) => ledgerWrites(sourceOf(f)).map((w) => `${f}: ${w}`));
    expect(bad).toEqual([]);
  });
});
