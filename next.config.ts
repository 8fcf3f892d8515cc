import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

const projectDir = path.dirname(fileURLToPath(import.meta.url));

/**
 * Turbopack only reads files under its root. A checkout whose node_modules is a symlink to another
 * checkout's (git worktrees sharing one install) needs the root to cover both.
 */
function turbopackRoot(): string {
  let modules: string;
  try {
    modules = fs.realpathSync(path.join(projectDir, "node_modules"));
  } catch {
    return projectDir;
  }
  let root = projectDir;
  while (!(modules + path.sep).startsWith(root + path.sep) && path.dirname(root) !== root) root = path.dirname(root);
  return root;
}

const nextConfig: NextConfig = {
  // Native and Node-only modules stay outside Next's bundle. The libvirt binding is never imported by
  // bundled code (only server/jobs and server/console load it), but is listed as a second guard.
  serverExternalPackages: ["@node-rs/argon2", "pg", "pino", "@prisma/client", "@prisma/adapter-pg", "vmdesk_libvirt"],
  poweredByHeader: false,
  reactStrictMode: true,
  turbopack: { root: turbopackRoot() },
  // The build checks what it ships; `npm run typecheck` (a unit test) checks everything, tests included.
  typescript: { ignoreBuildErrors: false, tsconfigPath: "tsconfig.app.json" },
  // Security headers (CSP, HSTS over TLS, Referrer-Policy, nosniff, framing) are set by server/main.ts
  // for every response: they depend on the public URL, known only at run time.
};

export default nextConfig;
