/**
 * Starts the real portal (server/main.ts: Next production build + tRPC + REST + in-process jobs) as a
 * child process on a free port, against a database prepared by the harness.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";
import { repoRoot, waitFor } from "./harness.ts";
import { openApiChecker } from "./openapi-check.ts";

export interface RunningPortal {
  baseUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startPortalServer(databaseUrl: string, env: Record<string, string> = {}): Promise<RunningPortal> {
  const port = await freePort();
  const baseUrl = `http://localhost:${port}`;
  const child = spawn(path.join(repoRoot, "node_modules/.bin/node"), ["--import", "tsx", "server/main.ts"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NODE_ENV: "production",
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: "127.0.0.1",
      NEXTAUTH_URL: baseUrl,
      NEXTAUTH_SECRET: randomBytes(24).toString("hex"),
      VMDESK_LOG_LEVEL: "warn",
      VMDESK_RELIST_INTERVAL_MS: "1000",
      ...env,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await waitFor(
    "portal to serve",
    async () => {
      if (child.exitCode !== null) throw new Error(`portal exited with ${child.exitCode}`);
      const res = await fetch(`${baseUrl}/api/v1/openapi.json`).catch(() => null);
      return res?.ok ?? false;
    },
    90_000,
    250,
  );
  return {
    baseUrl,
    process: child,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/**
 * A tiny REST client for tests and benchmarks. Every response is checked against the portal's OpenAPI
 * document (status listed for the operation, body matching its schema) unless `checkSpec` is false.
 */
export function restClient(baseUrl: string, token?: string, opts: { checkSpec?: boolean } = {}) {
  return async (method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${baseUrl}/api/v1${urlPath}`, {
      method,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { raw: text };
    }
    if (opts.checkSpec !== false) (await openApiChecker(baseUrl)).check({ method, path: urlPath, status: res.status, body: json, headers: res.headers });
    return { status: res.status, body: json, headers: res.headers };
  };
}
