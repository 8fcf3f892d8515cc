/**
 * vmdesk's HTTP server: Next.js for pages and APIs, our own websocket endpoints under /ws/ (the
 * console proxy lands there), and — unless VMDESK_WORKER=off — the background jobs in-process.
 *
 * Next attaches its own `upgrade` listener after the first request and closes sockets whose path
 * matches a page, so /ws/ upgrades are handled here before Next sees them and nothing else is passed
 * to Next but its own HMR socket in dev mode.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import next from "next";
import { config } from "./config.ts";
import { disconnectDb } from "./db/client.ts";
import { prepareDatabaseUrl } from "./db/startup.ts";
import { databaseUrl } from "./db/url.ts";
import { log } from "./log.ts";
import { methodNotAllowed } from "./api/rest.ts";
import { CLIENT_IP_HEADER } from "./api/trpc.ts";
import { checkRequestBody, securityHeaders, uploadRoute } from "./http-guard.ts";
import { httpDuration, routeGroup } from "./observability.ts";

/** How long a refused request may go on sending the body we will not read. */
const REFUSAL_LINGER_MS = 2000;
const NEXT_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** NEXTAUTH_SECRET when not given: generated once per data directory and kept there. */
function ensureSessionSecret(dataDir: string): void {
  if (process.env.NEXTAUTH_SECRET) return;
  const file = path.join(dataDir, "session-secret");
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600 });
  }
  process.env.NEXTAUTH_SECRET = fs.readFileSync(file, "utf8").trim();
}

async function main(): Promise<void> {
  const cfg = config();
  ensureSessionSecret(cfg.dataDir);
  process.env.NEXTAUTH_URL ??= `http://localhost:${cfg.PORT}`;
  const stopDb = prepareDatabaseUrl();
  const dev = process.env.VMDESK_DEV === "1";
  const app = next({ dev, dir: root, hostname: "localhost", port: cfg.PORT });
  await app.prepare();
  const handle = app.getRequestHandler();
  const upgradeNext = dev ? app.getUpgradeHandler() : null;

  const headers = securityHeaders({ publicUrl: process.env.NEXTAUTH_URL, dev });
  const bodyLimits = { apiBytes: cfg.VMDESK_MAX_BODY_BYTES, authBytes: cfg.VMDESK_AUTH_MAX_BODY_BYTES, uploadBytes: Math.floor(cfg.VMDESK_UPLOAD_MAX_GIB * 1024 ** 3) };
  /**
   * Answers before the body is read. The connection is not closed at once: closing a socket with unread
   * bytes sends a reset, which can reach the client before our answer and leave it with ECONNRESET
   * instead of the 413. Node discards the rest of the body instead (a lingering close), for at most
   * REFUSAL_LINGER_MS; a client still sending then is cut off.
   */
  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, status: number, body: { code: string; message: string } | object, extra: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...extra });
    res.end(JSON.stringify(body));
    if (req.complete) return;
    const socket = req.socket;
    const cutOff = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    // Removed again, so refusals on one kept-alive connection never pile listeners onto its socket.
    const settled = () => {
      clearTimeout(cutOff);
      req.off("end", settled);
      socket.off("close", settled);
    };
    req.once("end", settled);
    socket.once("close", settled);
  };
  const server = http.createServer((req, res) => {
    // Only the socket's address counts: a client-sent value would let anyone dodge rate limits.
    req.headers[CLIENT_IP_HEADER] = req.socket.remoteAddress ?? "";
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    const method = req.method ?? "GET";
    const pathname = (req.url ?? "/").split("?")[0] ?? "/";
    // Next answers methods it has no handler for with a 500: refuse them here, with what is allowed.
    if (!NEXT_METHODS.has(method)) {
      const below = pathname.startsWith("/api/v1/") ? pathname.slice("/api/v1".length) : null;
      const refused = below !== null ? methodNotAllowed(method, below) : null;
      const allow = refused?.headers.get("allow") ?? (pathname.startsWith("/api/") ? "GET, POST" : "GET, HEAD");
      return refuse(req, res, 405, { code: "METHOD_NOT_SUPPORTED", message: `${method} is not supported here; use ${allow}` }, { allow });
    }
    // Measured from here: the method is one of a fixed few, the route a group (bounded labels).
    const timer = httpDuration.startTimer({ route: routeGroup(pathname), method });
    res.once("finish", () => timer({ status: String(res.statusCode) }));
    // Oversized or length-less bodies are refused from the headers, before a byte is read.
    const body = checkRequestBody(method, pathname, req.headers, bodyLimits);
    if (!body.ok) return refuse(req, res, body.status, { code: body.status === 413 ? "PAYLOAD_TOO_LARGE" : "LENGTH_REQUIRED", message: body.message });
    if (pathname === "/metrics") return void serveMetrics(req, res, method);
    // Image bytes stream from the Node request to disk, not through Next (server/api/upload-http.ts).
    const upload = uploadRoute(method, pathname);
    if (upload) return void import("./api/upload-http.ts").then((m) => m.handleUploadRequest(req, res, upload, refuse));
    void handle(req, res);
  });
  /** GET /metrics, answered here rather than by Next: this process holds the registry it reports. */
  const serveMetrics = async (req: http.IncomingMessage, res: http.ServerResponse, method: string) => {
    if (method !== "GET" && method !== "HEAD") return refuse(req, res, 405, { code: "METHOD_NOT_SUPPORTED", message: `${method} is not supported here; use GET` }, { allow: "GET, HEAD" });
    try {
      const { scrape } = await import("./api/prometheus.ts");
      const { db } = await import("./db/client.ts");
      const out = await scrape(db(), req.headers.authorization, { consoleSessions: () => consoleProxy.sessionCount });
      res.writeHead(out.status, out.headers);
      res.end(method === "HEAD" ? undefined : out.body);
    } catch (err) {
      log.error({ err }, "metrics scrape failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "INTERNAL_SERVER_ERROR", message: "metrics scrape failed" }));
    }
  };
  // One pool of host connections for the console proxy and the background jobs of this process.
  const { createHostPool, startBackground } = await import("./jobs/background.ts");
  const hosts = await createHostPool();
  const { ConsoleProxy } = await import("./console/proxy.ts");
  const { PgConsoleStore } = await import("./console/pg-store.ts");
  // The proxy's own small pool: its connects and re-checks never queue behind API queries.
  const consoleStore = PgConsoleStore.connect(databaseUrl(), 4);
  const consoleProxy = new ConsoleProxy({
    store: consoleStore,
    hosts,
    portalOrigin: new URL(process.env.NEXTAUTH_URL).origin,
    clock: { now: () => new Date() },
    limits: {
      idleTimeoutS: cfg.VMDESK_CONSOLE_IDLE_TIMEOUT_S,
      maxSessionS: cfg.VMDESK_CONSOLE_MAX_SESSION_S,
      maxPerUser: cfg.VMDESK_CONSOLE_MAX_PER_USER,
      maxPerVm: cfg.VMDESK_CONSOLE_MAX_PER_VM,
      pingS: cfg.VMDESK_CONSOLE_PING_S,
      maxTotal: cfg.VMDESK_CONSOLE_MAX_TOTAL,
    },
  });
  consoleProxy.start();

  server.on("upgrade", (req, socket, head) => {
    const url = req.url ?? "";
    if (consoleProxy.handleUpgrade(req, socket, head)) return;
    if (upgradeNext && url.startsWith("/_next/")) return void upgradeNext(req, socket, head);
    socket.write("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
    socket.destroy();
  });

  const background = cfg.VMDESK_WORKER === "inprocess" ? await startBackground({ hosts }) : null;

  // Node's default bound on a whole request (300 s) would cut large uploads short; they have their own
  // (VMDESK_UPLOAD_TIMEOUT_S, plus an idle bound), and every other body is small and length-checked.
  server.requestTimeout = cfg.VMDESK_UPLOAD_TIMEOUT_S * 1000;
  await new Promise<void>((resolve) => server.listen(cfg.PORT, cfg.HOST, resolve));
  log.info({ url: process.env.NEXTAUTH_URL, worker: background ? "in-process" : "off" }, "vmdesk is serving");
  console.log(`vmdesk is serving on ${process.env.NEXTAUTH_URL}`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    server.close();
    await consoleProxy.drain().catch((err) => log.error({ err }, "console drain failed"));
    server.closeAllConnections();
    await consoleStore.close().catch(() => undefined);
    await background?.stop().catch((err) => log.error({ err }, "background stop failed"));
    await hosts.closeAll().catch(() => undefined);
    await app.close().catch(() => undefined);
    await disconnectDb().catch(() => undefined);
    stopDb();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((err) => {
  log.fatal({ err }, "vmdesk failed to start");
  console.error(err);
  process.exit(1);
});
