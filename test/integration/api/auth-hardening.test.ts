/**
 * Sign-in, sessions and API tokens under attack, against the real portal process (Next + next-auth +
 * tRPC/REST + in-process jobs) over real HTTP. Requests leave from chosen loopback addresses
 * (127.0.0.0/8 all reaches the portal) so per-address rate limits can be exercised from one machine.
 */
import http from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { decode, encode } from "next-auth/jwt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../../server/db/client.ts";
import { hit } from "../../../server/services/rate-limit.ts";
import { ADMIN_PASSWORD, seedDatabase, waitFor } from "../../support/harness.ts";
import { startPortalServer, type RunningPortal } from "../../support/server.ts";

const SECRET = randomBytes(24).toString("hex");
const PER_ACCOUNT = 5;
const PER_ADDRESS = 20;
const MAX_TOKENS = 10;
/** Live streams one user may hold open (VMDESK_LIVE_STREAMS_MAX_PER_USER, small here). */
const MAX_LIVE = 3;

let portal: RunningPortal;
let port: number;
let adminToken: string;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  cookies: string[];
  json: any;
}

/** One HTTP request to the portal from `from` (a loopback address), with the portal's own Host header. */
function send(method: string, path: string, opts: { from?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        localAddress: opts.from ?? "127.0.0.1",
        // A declared length, as browsers and fetch send: the portal refuses bodies without one (411).
        headers: { host: `localhost:${port}`, ...(opts.body !== undefined ? { "content-length": String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: any = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = { raw: text };
          }
          const cookies = (res.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]!);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, cookies, json });
        });
      },
    );
    req.on("error", reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

type Auth = { token?: string; cookie?: string };

function api(method: string, path: string, auth: Auth = {}, body?: unknown, from?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  if (auth.cookie) {
    headers.cookie = auth.cookie;
    headers.origin = `http://localhost:${port}`;
  }
  if (body !== undefined) headers["content-type"] = "application/json";
  return send(method, `/api/v1${path}`, { headers, body: body === undefined ? undefined : JSON.stringify(body), from });
}

function tokenSignIn(username: string, password: string, from: string, extra: Record<string, unknown> = {}): Promise<Reply> {
  return api("POST", "/auth/token", {}, { username, password, ...extra }, from);
}

/** The browser's sign-in: next-auth's CSRF token, then the credentials callback. Returns the cookies. */
async function browserSignIn(username: string, password: string, from: string): Promise<{ status: number; cookie: string | null }> {
  const csrf = await send("GET", "/api/auth/csrf", { from });
  const csrfCookie = csrf.cookies.join("; ");
  const res = await send("POST", "/api/auth/callback/credentials", {
    from,
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: csrfCookie },
    body: new URLSearchParams({ csrfToken: csrf.json.csrfToken, username, password, json: "true" }).toString(),
  });
  const session = res.cookies.find((c) => c.startsWith("next-auth.session-token="));
  return { status: res.status, cookie: session ? `${csrfCookie}; ${session}` : null };
}

async function mustSignIn(username: string, password: string, from: string): Promise<string> {
  const { cookie } = await browserSignIn(username, password, from);
  expect(cookie, `${username} signs in from ${from}`).toBeTruthy();
  return cookie!;
}

async function mustGetToken(username: string, password: string, from: string, extra: Record<string, unknown> = {}): Promise<{ token: string; id: string; expiresAt: string; scopes?: string[] }> {
  const res = await tokenSignIn(username, password, from, extra);
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json;
}

/** A fresh loopback address per use, so one test's sign-ins never spend another's rate limit. */
let nextAddress = 10;
const freshAddress = () => `127.0.${Math.floor(nextAddress / 250) + 10}.${(nextAddress++ % 250) + 1}`;

async function createUser(username: string, role: "tenant" | "teacher" = "tenant", password = "user-password-1"): Promise<string> {
  const res = await api("POST", "/users", { token: adminToken }, { username, password, role });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json.id;
}

beforeAll(async () => {
  const { url } = await seedDatabase("vmdesk_it_auth_hardening");
  // Rate-limit rows as they pile up: one whose window ended long ago, one still counting.
  const longAgo = new Date(Date.now() - 3 * 86_400_000);
  await hit(db(), "test:stale-bucket", { limit: 5, windowMs: 60_000 }, longAgo);
  await hit(db(), "test:live-bucket", { limit: 5, windowMs: 3_600_000 });
  await disconnectDb();
  portal = await startPortalServer(url, {
    NEXTAUTH_SECRET: SECRET,
    VMDESK_SIGNIN_LIMIT_PER_ACCOUNT: String(PER_ACCOUNT),
    VMDESK_SIGNIN_LIMIT_PER_ADDRESS: String(PER_ADDRESS),
    VMDESK_TOKENS_MAX_PER_USER: String(MAX_TOKENS),
    VMDESK_LIVE_STREAMS_MAX_PER_USER: String(MAX_LIVE),
  });
  port = Number(new URL(portal.baseUrl).port);
  adminToken = (await mustGetToken("admin", ADMIN_PASSWORD, freshAddress(), { name: "test-admin" })).token;
});

interface LiveStream {
  status: number;
  text: () => string;
  ended: Promise<number>;
  close: () => void;
}

/** A live stream (tRPC subscription over SSE) as the browser opens it: what it receives, when it ends, close(). */
function openLive(headers: Record<string, string>) {
  return new Promise<LiveStream>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "GET", path: "/api/trpc/live.vms", headers: { host: `localhost:${port}`, accept: "text/event-stream", ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      const ended = new Promise<number>((r) => res.once("close", () => r(Date.now())));
      resolve({ status: res.statusCode ?? 0, text: () => text, ended, close: () => req.destroy() });
    });
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

afterAll(async () => {
  await portal?.stop();
  await disconnectDb();
});

describe("callbackUrl: only same-origin paths", () => {
  const HOSTILE = [
    "//evil.example",
    "/.//evil.example",
    "///evil.example",
    "/\\evil.example",
    "/a/..//evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",
    "/%2e/%2fevil.example",
    "/%5Cevil.example",
    "/\t/evil.example",
    "/%09/evil.example",
    "/%0d%0a/evil.example",
  ];

  it("GET /signin with a session redirects home instead of to another origin (the issue's exact request too)", async () => {
    const cookie = await mustSignIn("admin", ADMIN_PASSWORD, freshAddress());
    const raw = await send("GET", "/signin?callbackUrl=/.//evil.example", { headers: { cookie } });
    expect(raw.status).toBe(307);
    expect(raw.headers.location).toBe("/");
    const seen: Record<string, string | undefined> = {};
    for (const variant of HOSTILE) {
      const res = await send("GET", `/signin?callbackUrl=${encodeURIComponent(variant)}`, { headers: { cookie } });
      expect(res.status, variant).toBe(307);
      seen[variant] = res.headers.location;
    }
    expect(seen).toEqual(Object.fromEntries(HOSTILE.map((v) => [v, "/"])));
    const local = await send("GET", `/signin?callbackUrl=${encodeURIComponent("/settings/tokens?x=1")}`, { headers: { cookie } });
    expect(local.headers.location).toBe("/settings/tokens?x=1");
  });

  it("next-auth's redirect callback answers with a path on the portal only", async () => {
    const seen: Record<string, string> = {};
    for (const variant of [...HOSTILE, `http://localhost:${port}//evil.example`]) {
      const csrf = await send("GET", "/api/auth/csrf");
      const res = await send("POST", "/api/auth/signout", {
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: csrf.cookies.join("; ") },
        body: new URLSearchParams({ csrfToken: csrf.json.csrfToken, callbackUrl: variant, json: "true" }).toString(),
      });
      expect(res.status, variant).toBe(200);
      seen[variant] = res.json.url;
    }
    const home = `http://localhost:${port}/`;
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((v) => [v, home])));
  });
});

describe("sign-in limits count per (account, address)", () => {
  it("a flood against admin from one address does not lock admin out elsewhere; the flooder stays refused", async () => {
    const flooder = "127.0.0.2";
    const statuses: number[] = [];
    for (let i = 0; i < PER_ACCOUNT + 3; i++) statuses.push((await tokenSignIn("admin", `wrong-${i}`, flooder)).status);
    expect(statuses).toEqual([...Array(PER_ACCOUNT).fill(401), 429, 429, 429]);

    expect((await tokenSignIn("admin", ADMIN_PASSWORD, "127.0.0.1", { name: "after-flood" })).status).toBe(201);
    const { status, cookie } = await browserSignIn("admin", ADMIN_PASSWORD, "127.0.0.1");
    expect(status).toBe(200);
    expect((await api("GET", "/me", { cookie: cookie! })).status).toBe(200);

    expect((await tokenSignIn("admin", ADMIN_PASSWORD, flooder)).status).toBe(429);
    expect((await browserSignIn("admin", ADMIN_PASSWORD, flooder)).cookie).toBeNull();
  });

  it("still limits one address across many accounts", async () => {
    const from = "127.0.0.3";
    const statuses: number[] = [];
    for (let i = 0; i <= PER_ADDRESS; i++) statuses.push((await tokenSignIn(`nobody-${i}`, "whatever-1", from)).status);
    expect(statuses.slice(0, PER_ADDRESS)).toEqual(Array(PER_ADDRESS).fill(401));
    expect(statuses[PER_ADDRESS]).toBe(429);
  });
});

describe("password reset, disable and role change end sessions and revoke tokens", () => {
  it("reset: the old cookie and the old token are refused (401); the new password works", async () => {
    const id = await createUser("reset-me");
    const cookie = await mustSignIn("reset-me", "user-password-1", freshAddress());
    const { token } = await mustGetToken("reset-me", "user-password-1", freshAddress());
    expect((await api("GET", "/me", { cookie })).status).toBe(200);
    expect((await api("GET", "/me", { token })).status).toBe(200);

    expect((await api("PATCH", `/users/${id}`, { token: adminToken }, { password: "new-password-2" })).status).toBe(200);
    expect((await api("GET", "/me", { cookie })).status).toBe(401);
    expect((await api("GET", "/me", { token })).status).toBe(401);
    const page = await send("GET", "/settings/tokens", { headers: { cookie } });
    expect(page.status).toBe(307);
    expect(page.headers.location).toMatch(/^\/signin\?/);
    const fresh = await mustSignIn("reset-me", "new-password-2", freshAddress());
    expect((await api("GET", "/me", { cookie: fresh })).status).toBe(200);
  });

  it("reset: live streams (SSE) opened with the old cookie or token end within seconds", async () => {
    const id = await createUser("reset-streams");
    const cookie = await mustSignIn("reset-streams", "user-password-1", freshAddress());
    const { token } = await mustGetToken("reset-streams", "user-password-1", freshAddress());
    const open = async (headers: Record<string, string>) => {
      const s = await openLive(headers);
      expect(s.status).toBe(200);
      return s;
    };
    const streams = [await open({ cookie, origin: `http://localhost:${port}` }), await open({ authorization: `Bearer ${token}` })];
    await waitFor("each stream's first snapshot", async () => streams.every((s) => s.text().includes("data:")), 10_000, 100);
    const resetAt = Date.now();
    expect((await api("PATCH", `/users/${id}`, { token: adminToken }, { password: "new-password-2" })).status).toBe(200);
    const endedAt = await Promise.race([Promise.all(streams.map((s) => s.ended)), new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
    expect(endedAt, "both streams ended").not.toBeNull();
    for (const at of endedAt!) expect(at - resetAt).toBeLessThan(6000);
  });

  it("live streams: a user opening them without end gets MAX_LIVE at a time; a closed one frees its place", async () => {
    await createUser("stream-hoarder");
    const { token } = await mustGetToken("stream-hoarder", "user-password-1", freshAddress());
    const auth = { authorization: `Bearer ${token}` };
    const streams: LiveStream[] = [];
    for (let i = 0; i < MAX_LIVE; i++) streams.push(await openLive(auth));
    await waitFor("each stream's first snapshot", async () => streams.every((s) => s.text().includes("data:")), 10_000, 100);
    const refused = await openLive(auth);
    // The SSE answer carries tRPC's error event (429, the cap named), never a snapshot, and ends.
    expect(await Promise.race([refused.ended.then(() => "ended"), new Promise((r) => setTimeout(() => r("still open"), 5_000))])).toBe("ended");
    expect(refused.text()).toContain("event: serialized-error");
    expect(refused.text()).toContain(`at most ${MAX_LIVE} live views`);
    expect(refused.text()).toContain('"httpStatus":429');
    expect(refused.text()).not.toMatch(/^id: /m);
    // Another user is not affected.
    await createUser("stream-neighbour");
    const neighbour = await openLive({ authorization: `Bearer ${(await mustGetToken("stream-neighbour", "user-password-1", freshAddress())).token}` });
    await waitFor("the neighbour's snapshot", async () => neighbour.text().includes("data:"), 10_000, 100);
    neighbour.close();
    streams.pop()!.close();
    const again = await waitFor("a stream once one closed", async () => {
      const s = await openLive(auth);
      await waitFor("an answer", async () => s.text().length > 0 || null, 5_000, 50).catch(() => undefined);
      if (s.text().includes("data:")) return s;
      s.close();
      return null;
    }, 10_000, 200);
    again.close();
    for (const s of streams) s.close();
  });

  it("role change: the old cookie and token are refused", async () => {
    const id = await createUser("promote-me");
    const cookie = await mustSignIn("promote-me", "user-password-1", freshAddress());
    const { token } = await mustGetToken("promote-me", "user-password-1", freshAddress());
    expect((await api("PATCH", `/users/${id}`, { token: adminToken }, { role: "teacher" })).status).toBe(200);
    expect((await api("GET", "/me", { cookie })).status).toBe(401);
    expect((await api("GET", "/me", { token })).status).toBe(401);
  });

  it("disable then enable: nothing from before comes back", async () => {
    const id = await createUser("pause-me");
    const cookie = await mustSignIn("pause-me", "user-password-1", freshAddress());
    const { token } = await mustGetToken("pause-me", "user-password-1", freshAddress());
    expect((await api("PATCH", `/users/${id}`, { token: adminToken }, { disabled: true })).status).toBe(200);
    expect((await api("PATCH", `/users/${id}`, { token: adminToken }, { disabled: false })).status).toBe(200);
    expect((await api("GET", "/me", { cookie })).status).toBe(401);
    expect((await api("GET", "/me", { token })).status).toBe(401);
    expect((await api("GET", "/me", { cookie: await mustSignIn("pause-me", "user-password-1", freshAddress()) })).status).toBe(200);
  });

  it("a display-name edit ends nothing", async () => {
    const id = await createUser("rename-me");
    const cookie = await mustSignIn("rename-me", "user-password-1", freshAddress());
    expect((await api("PATCH", `/users/${id}`, { token: adminToken }, { displayName: "Renamed" })).status).toBe(200);
    expect((await api("GET", "/me", { cookie })).status).toBe(200);
  });

  it("a session older than its absolute lifetime is refused though next-auth kept refreshing it", async () => {
    await createUser("old-session");
    const cookie = await mustSignIn("old-session", "user-password-1", freshAddress());
    const raw = cookie.split("; ").find((c) => c.startsWith("next-auth.session-token="))!.slice("next-auth.session-token=".length);
    const claims = (await decode({ token: raw, secret: SECRET }))!;
    const nowS = Math.floor(Date.now() / 1000);
    const reissue = async (authTime: number) =>
      `next-auth.session-token=${await encode({ token: { ...claims, authTime, iat: nowS }, secret: SECRET })}`;
    // Same claims, signed now: accepted (so only the sign-in time differs below).
    expect((await api("GET", "/me", { cookie: await reissue(nowS - 60) })).status).toBe(200);
    const stale = await reissue(nowS - 8 * 3600 - 60);
    expect((await api("GET", "/me", { cookie: stale })).status).toBe(401);
    const page = await send("GET", "/settings/tokens", { headers: { cookie: stale } });
    expect(page.status).toBe(307);
    expect(page.headers.location).toMatch(/^\/signin\?/);
  });
});

describe("API token scopes", () => {
  it("a read token reads, and is refused (403) on VM actions and admin procedures", async () => {
    const ro = await api("POST", "/tokens", { token: adminToken }, { name: "read-only", scopes: ["read"], ttlDays: 5 });
    expect(ro.status).toBe(201);
    expect(ro.json.scopes).toEqual(["read"]);
    const read = { token: ro.json.token as string };
    expect((await api("GET", "/me", read)).status).toBe(200);
    expect((await api("GET", "/vms", read)).status).toBe(200);
    const someVm = randomUUID();
    for (const [method, path, body] of [
      ["POST", `/vms/${someVm}/poweroff`, undefined],
      ["POST", `/vms/${someVm}/start`, undefined],
      ["DELETE", `/vms/${someVm}`, undefined],
      ["POST", "/vms", { name: "nope", imageId: randomUUID(), vcpus: 1, memoryMiB: 96, diskGiB: 1 }],
      ["GET", "/users", undefined],
      ["GET", "/hosts", undefined],
      ["GET", "/audit", undefined],
      ["POST", "/users", { username: "scoped-out", password: "password-123", role: "tenant" }],
    ] as const) {
      const res = await api(method, path, read, body);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    // A vms token gets past the scope check on VM actions (404: no such VM) but not into admin procedures.
    const vms = await api("POST", "/tokens", { token: adminToken }, { name: "vm-ops", scopes: ["read", "vms"] });
    expect(vms.status).toBe(201);
    expect((await api("POST", `/vms/${someVm}/poweroff`, { token: vms.json.token })).status).toBe(404);
    expect((await api("GET", "/users", { token: vms.json.token })).status).toBe(403);
    expect((await api("POST", "/users", { token: vms.json.token }, { username: "scoped-out", password: "password-123", role: "tenant" })).status).toBe(403);
    expect((await api("GET", "/users", { token: adminToken })).status).toBe(200);
  });

  it("a token never mints a token with more scope or a later expiry; revoking it revokes what it minted", async () => {
    const parent = (await api("POST", "/tokens", { token: adminToken }, { name: "parent", scopes: ["read"], ttlDays: 5 })).json;
    const auth = { token: parent.token as string };
    expect((await api("POST", "/tokens", auth, { name: "wider", scopes: ["read", "vms"] })).status).toBe(403);
    expect((await api("POST", "/tokens", auth, { name: "admin", scopes: ["admin"] })).status).toBe(403);
    expect((await api("POST", "/tokens", auth, { name: "longer", scopes: ["read"], ttlDays: 365 })).status).toBe(403);
    expect((await api("POST", "/tokens", auth, { name: "longer", scopes: ["read"], ttlDays: 6 })).status).toBe(403);

    const capped = await api("POST", "/tokens", auth, { name: "default-ttl" });
    expect(capped.status).toBe(201);
    expect(capped.json.scopes).toEqual(["read"]);
    expect(new Date(capped.json.expiresAt).getTime()).toBeLessThanOrEqual(new Date(parent.expiresAt).getTime());
    const child = await api("POST", "/tokens", auth, { name: "child", scopes: ["read"], ttlDays: 1 });
    expect(child.status).toBe(201);
    expect((await api("GET", "/me", { token: child.json.token })).status).toBe(200);

    expect((await api("DELETE", `/tokens/${parent.id}`, { token: adminToken })).status).toBe(200);
    expect((await api("GET", "/me", auth)).status).toBe(401);
    expect((await api("GET", "/me", { token: child.json.token })).status).toBe(401);
    expect((await api("GET", "/me", { token: capped.json.token })).status).toBe(401);
  });

  it("tokens carry no more than the role allows; sessions mint within their role", async () => {
    await createUser("scoped-tenant");
    const cookie = await mustSignIn("scoped-tenant", "user-password-1", freshAddress());
    expect((await api("POST", "/tokens", { cookie }, { name: "too-much", scopes: ["read", "vms", "admin"] })).status).toBe(403);
    const own = await api("POST", "/tokens", { cookie }, { name: "mine" });
    expect(own.status).toBe(201);
    expect(own.json.scopes).toEqual(["read", "vms"]);
    const viaPassword = await tokenSignIn("scoped-tenant", "user-password-1", freshAddress(), { scopes: ["admin"] });
    expect(viaPassword.status).toBe(403);
    const listed = await api("GET", "/tokens", { cookie });
    expect(listed.json.map((t: { name: string; scopes: string[] }) => [t.name, t.scopes])).toContainEqual(["mine", ["read", "vms"]]);
  });
});

describe("POST /auth/token reuses or caps tokens per client", () => {
  it("a new sign-in of the same client replaces its token; 60 sign-ins leave at most the cap active", async () => {
    await createUser("ci-bot");
    const first = await mustGetToken("ci-bot", "user-password-1", freshAddress(), { name: "ci" });
    const second = await mustGetToken("ci-bot", "user-password-1", freshAddress(), { name: "ci" });
    expect((await api("GET", "/me", { token: first.token })).status).toBe(401);
    expect((await api("GET", "/me", { token: second.token })).status).toBe(200);

    let last = second.token;
    let from = freshAddress();
    for (let i = 0; i < 60; i++) {
      if (i % PER_ACCOUNT === 0) from = freshAddress();
      last = (await mustGetToken("ci-bot", "user-password-1", from, { name: `runner-${i % 15}` })).token;
    }
    const active = await api("GET", "/tokens", { token: last });
    expect(active.status).toBe(200);
    expect(active.json.length).toBeLessThanOrEqual(MAX_TOKENS);
    const names = active.json.map((t: { name: string }) => t.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("runner-14");
  });

  it("explicit creation past the cap is refused (409), not silently revoking someone's token", async () => {
    await createUser("hoarder");
    const cookie = await mustSignIn("hoarder", "user-password-1", freshAddress());
    for (let i = 0; i < MAX_TOKENS; i++) expect((await api("POST", "/tokens", { cookie }, { name: `t${i}` })).status).toBe(201);
    const over = await api("POST", "/tokens", { cookie }, { name: "one-too-many" });
    expect(over.status).toBe(409);
    expect(over.json.message).toMatch(/revoke/i);
  });
});

describe("housekeeping", () => {
  it("the background leader purges rate-limit rows whose window has ended", async () => {
    const keys = async () => (await db().rateLimitBucket.findMany({ where: { key: { startsWith: "test:" } }, select: { key: true } })).map((b) => b.key);
    await waitFor("the stale bucket to be purged", async () => !(await keys()).includes("test:stale-bucket"), 30_000, 500);
    expect(await keys()).toEqual(["test:live-bucket"]);
  });
});
