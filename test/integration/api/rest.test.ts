/**
 * The REST API over real HTTP against the real portal process (Next + tRPC + trpc-to-openapi +
 * in-process worker), real PostgreSQL and real libvirt.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../../server/db/client.ts";
import { OpenApiChecker } from "../../support/openapi-check.ts";
import { dataDir, demoImageDir, seedDatabase, waitFor } from "../../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../../support/server.ts";

let portal: RunningPortal;
let adminToken: string;
let seededHostId: string;

/** A raw HTTP exchange (fetch refuses TRACE and always sends a length). */
function rawRequest(method: string, urlPath: string, opts: { headers?: Record<string, string>; chunks?: Buffer[] } = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    let answered = false;
    const req = http.request(`${portal.baseUrl}${urlPath}`, { method, headers: opts.headers }, (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    // Once the answer has come, the server may stop reading what we still send (EPIPE/ECONNRESET);
    // before it, any error means no answer: fail rather than wait for the test's timeout.
    req.on("error", (err) => (answered ? undefined : reject(err)));
    for (const c of opts.chunks ?? []) req.write(c);
    req.end();
  });
}

beforeAll(async () => {
  const { url, hostId } = await seedDatabase("vmdesk_it_rest");
  seededHostId = hostId;
  await disconnectDb();
  portal = await startPortalServer(url, { VMDESK_SIGNIN_LIMIT_PER_ACCOUNT: "5", VMDESK_SIGNIN_LIMIT_PER_ADDRESS: "1000", VMDESK_HOST_KEYFILE_DIR: "/etc/vmdesk/ssh" });
});
afterAll(async () => {
  await portal?.stop();
  await disconnectDb();
});

describe("REST API /api/v1", () => {
  it("serves its OpenAPI document", async () => {
    const res = await fetch(`${portal.baseUrl}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = await res.json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ["/auth/token", "/me", "/users", "/users/{id}/quota", "/images", "/hosts", "/vms", "/vms/{id}", "/vms/{id}/start", "/vms/{id}/shutdown", "/operations/{id}"]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
  });

  it("issues tokens (201), rejects bad credentials (401) and rate-limits per account (429)", async () => {
    const anon = restClient(portal.baseUrl);
    const ok = await anon("POST", "/auth/token", { username: "admin", password: "admin-password-1" });
    expect(ok.status).toBe(201);
    expect(ok.body.token).toMatch(/^vmd_/);
    adminToken = ok.body.token;
    const bad = await anon("POST", "/auth/token", { username: "admin", password: "wrong-password" });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ code: "UNAUTHORIZED", message: "invalid username or password" });
    expect((await anon("GET", "/me")).status).toBe(401);
    expect((await restClient(portal.baseUrl, "vmd_not-a-real-token")("GET", "/me")).status).toBe(401);
    // The account allows 5 attempts per window here: 2 used above, 3 more, then refused.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await anon("POST", "/auth/token", { username: "ratelimited", password: "x" })).status);
    for (let i = 0; i < 2; i++) statuses.push((await anon("POST", "/auth/token", { username: "ratelimited", password: "x" })).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses[5]).toBe(429);
  });

  it("runs the tenant story: user, quota, create (202), act, errors with precise codes, delete", async () => {
    const admin = restClient(portal.baseUrl, adminToken);
    const me = await admin("GET", "/me");
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ username: "admin", role: "admin" });

    const invalid = await admin("POST", "/users", { username: "x", password: "short", role: "tenant" });
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toMatch(/username/);
    expect(invalid.body.message).toMatch(/password/);

    const created = await admin("POST", "/users", { username: "resttenant", password: "tenant-password-1", role: "tenant" });
    expect(created.status).toBe(201);
    const tenantId = created.body.id;
    expect((await admin("POST", "/users", { username: "resttenant", password: "tenant-password-1", role: "tenant" })).status).toBe(409);
    const quota = await admin("PUT", `/users/${tenantId}/quota`, { vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
    expect(quota.status).toBe(200);
    expect(quota.body.limits).toEqual({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });

    const hosts = await admin("GET", "/hosts");
    expect(hosts.status).toBe(200);
    expect(hosts.body[0]).toMatchObject({ uri: "qemu:///system", domainType: "qemu" });

    const tokenRes = await restClient(portal.baseUrl)("POST", "/auth/token", { username: "resttenant", password: "tenant-password-1" });
    const tenant = restClient(portal.baseUrl, tokenRes.body.token);
    expect((await tenant("GET", "/hosts")).status).toBe(403);
    expect((await tenant("PUT", `/users/${tenantId}/quota`, { vms: 9, vcpus: 9, memoryMiB: 9999, diskGiB: 99 })).status).toBe(403);
    const images = await tenant("GET", "/images");
    expect(images.status).toBe(200);
    const imageId = images.body.find((i: { format: string }) => i.format === "qcow2").id;

    const overQuota = await tenant("POST", "/vms", { name: "too big", imageId, vcpus: 1, memoryMiB: 256, diskGiB: 1 });
    expect(overQuota.status).toBe(409);
    expect(overQuota.body.message).toMatch(/memory \(MiB\) limit 128/);
    const badField = await tenant("POST", "/vms", { name: "", imageId: "nope", vcpus: 0, memoryMiB: 96, diskGiB: 1 });
    expect(badField.status).toBe(400);
    expect(badField.body.message).toMatch(/name/);
    expect(badField.body.message).toMatch(/imageId/);
    expect(badField.body.message).toMatch(/vcpus/);

    const vm = await tenant("POST", "/vms", { name: "rest vm", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
    expect(vm.status).toBe(202);
    expect(vm.body.vm).toMatchObject({ name: "rest vm", state: "provisioning" });
    expect(vm.body.operation).toMatchObject({ kind: "create" });
    const vmId = vm.body.vm.id;
    const busy = await tenant("POST", `/vms/${vmId}/start`);
    expect(busy.status).toBe(409);
    expect(busy.body.message).toMatch(/another operation/);

    const op = await waitFor("create to finish", async () => {
      const r = await tenant("GET", `/operations/${vm.body.operation.id}`);
      return r.body.status === "succeeded" || r.body.status === "failed" ? r.body : null;
    }, 90_000);
    expect(op.status).toBe("succeeded");
    const got = await tenant("GET", `/vms/${vmId}`);
    expect(got.status).toBe(200);
    expect(got.body.state).toBe("running");
    expect((await tenant("GET", "/vms")).body.map((v: { id: string }) => v.id)).toEqual([vmId]);

    const wrongState = await tenant("POST", `/vms/${vmId}/resume`);
    expect(wrongState.status).toBe(412);
    expect(wrongState.body.code).toBe("PRECONDITION_FAILED");
    expect((await tenant("GET", "/vms/00000000-0000-4000-8000-000000000000")).status).toBe(404);

    // Admins see everyone's VMs only when they ask with all=true; anything but true/false is refused.
    expect((await admin("GET", "/vms?all=true")).body.map((v: { id: string }) => v.id)).toContain(vmId);
    expect((await admin("GET", "/vms?all=false")).body.map((v: { id: string }) => v.id)).not.toContain(vmId);
    for (const q of ["yes", "1", "TRUE", ""]) expect((await admin("GET", `/vms?all=${q}`)).status).toBe(400);

    // A JSON content type with an empty body is an empty object (what many HTTP clients send).
    const paused = await tenant("POST", `/vms/${vmId}/pause`, undefined, { "content-type": "application/json" });
    expect(paused.status).toBe(202);
    await waitFor("pause", async () => (await tenant("GET", `/operations/${paused.body.operation.id}`)).body.status === "succeeded");
    expect((await tenant("GET", `/vms/${vmId}`)).body.state).toBe("paused");
    const resumed = await tenant("POST", `/vms/${vmId}/resume`);
    expect(resumed.status).toBe(202);
    await waitFor("resume", async () => (await tenant("GET", `/operations/${resumed.body.operation.id}`)).body.status === "succeeded");

    const del = await tenant("DELETE", `/vms/${vmId}`);
    expect(del.status).toBe(202);
    await waitFor("delete", async () => (await tenant("GET", `/operations/${del.body.operation.id}`)).body.status === "succeeded", 60_000);
    expect((await tenant("GET", `/vms/${vmId}`)).status).toBe(404);
    expect((await tenant("GET", "/me/quota")).body.used).toEqual({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });

    // Disabled users' tokens stop working at once.
    expect((await admin("PATCH", `/users/${tenantId}`, { disabled: true })).status).toBe(200);
    expect((await tenant("GET", "/me")).status).toBe(401);

    const audit = await admin("GET", "/audit?limit=200");
    expect(audit.status).toBe(200);
    const actions = audit.body.items.map((e: { action: string }) => e.action);
    for (const a of ["user.create", "quota.update", "vm.create", "vm.pause", "vm.delete", "user.update"]) expect(actions).toContain(a);
  });

  it("pages the VM list by limit and cursor: no VM twice or missed (ties in createdAt too), scoped cursors, all without a limit", async () => {
    const admin = restClient(portal.baseUrl, adminToken);
    const anon = restClient(portal.baseUrl);
    const tenantIds: string[] = [];
    for (const username of ["pagetenant", "pageother"]) {
      expect((await admin("POST", "/users", { username, password: "tenant-password-1", role: "tenant" })).status).toBe(201);
      tenantIds.push((await db().user.findUniqueOrThrow({ where: { username }, select: { id: true } })).id);
    }
    const [mine, other] = tenantIds as [string, string];
    const tenantToken = (await anon("POST", "/auth/token", { username: "pagetenant", password: "tenant-password-1" })).body.token;
    const tenant = restClient(portal.baseUrl, tenantToken);
    // Rows only (no domains, no quota held): 7 of the tenant's, 3 of another's, interleaved; several
    // share a createdAt to the millisecond, as VMs created in one transaction do.
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
    const rows = [0, 0, 0, 1, 2, 2, 2, 2, 3, 3].map((minute, i) => {
      const id = randomUUID();
      return { id, name: `page-${i}`, ownerId: i % 3 === 1 ? other : mine, hostId: seededHostId, vcpus: 1, memoryMiB: 96, diskGiB: 1, domainName: `vmdesk-${id}`, state: "stopped" as const, quotaHeld: false, createdAt: at(minute) };
    });
    await db().vm.createMany({ data: rows });
    const ids = (vms: Array<{ id: string }>) => vms.map((v) => v.id);
    const walk = async (client: typeof tenant, query: string, limit: number) => {
      const pages: string[][] = [];
      let cursor = "";
      for (;;) {
        const page = await client("GET", `/vms?${query}limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
        expect(page.status).toBe(200);
        pages.push(ids(page.body));
        if (page.body.length < limit) return pages;
        cursor = page.body.at(-1).id;
      }
    };

    // Without a limit, every VM (as before); pages of 3 give the same VMs in the same order.
    const ordered = ids((await tenant("GET", "/vms")).body);
    expect([...ordered].sort()).toEqual(rows.filter((r) => r.ownerId === mine).map((r) => r.id).sort());
    const pages = await walk(tenant, "", 3);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(ordered);
    const allOrdered = ids((await admin("GET", "/vms?all=true")).body);
    expect(allOrdered).toEqual(expect.arrayContaining(rows.map((r) => r.id)));
    expect((await walk(admin, "all=true&", 4)).flat()).toEqual(allOrdered);
    expect(ids((await admin("GET", "/vms?all=true&limit=100")).body)).toEqual(allOrdered.slice(0, 100));

    // A VM deleted between two pages still marks the place.
    const first = ids((await tenant("GET", "/vms?limit=3")).body);
    await db().vm.update({ where: { id: first[2]! }, data: { deletedAt: new Date(), state: "deleted" } });
    expect(ids((await tenant("GET", `/vms?limit=3&cursor=${first[2]}`)).body)).toEqual(ordered.slice(3, 6));

    // Limits 1..100, whole numbers; a cursor is a UUID of a VM in the same list: another tenant's VM
    // is refused exactly like one that does not exist.
    for (const q of ["limit=0", "limit=101", "limit=abc", "limit=2.5", "limit=-1", "cursor=nope"]) expect((await tenant("GET", `/vms?${q}`)).status, q).toBe(400);
    const foreign = await tenant("GET", `/vms?limit=3&cursor=${rows[1]!.id}`);
    const unknown = await tenant("GET", `/vms?limit=3&cursor=${randomUUID()}`);
    expect(foreign.status).toBe(400);
    expect(foreign.body).toEqual(unknown.body);
    expect(foreign.body.message).toMatch(/cursor/);
    expect((await admin("GET", `/vms?all=true&limit=3&cursor=${rows[1]!.id}`)).status).toBe(200);

    // tRPC takes the same input.
    const input = encodeURIComponent(JSON.stringify({ json: { limit: 2, cursor: ordered[1] } }));
    const viaTrpc = await fetch(`${portal.baseUrl}/api/trpc/vm.list?input=${input}`, { headers: { authorization: `Bearer ${tenantToken}` } });
    expect(viaTrpc.status).toBe(200);
    expect(ids((await viaTrpc.json()).result.data.json)).toEqual(ordered.slice(3, 5));
  });

  it("refuses cookie-session mutations from another site", async () => {
    // Sign in through next-auth like a browser does.
    const csrf = await fetch(`${portal.baseUrl}/api/auth/csrf`);
    const csrfCookie = csrf.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const { csrfToken } = await csrf.json();
    const signin = await fetch(`${portal.baseUrl}/api/auth/callback/credentials`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: csrfCookie },
      body: new URLSearchParams({ csrfToken, username: "admin", password: "admin-password-1", json: "true" }),
    });
    const session = signin.headers.getSetCookie().map((c) => c.split(";")[0] ?? "").find((c) => c.startsWith("next-auth.session-token="));
    expect(session).toBeTruthy();
    const cookie = `${csrfCookie}; ${session}`;
    const body = JSON.stringify({ username: "csrfvictim", password: "password-123", role: "tenant" });
    const foreign = await fetch(`${portal.baseUrl}/api/v1/users`, { method: "POST", headers: { cookie, origin: "https://evil.example", "content-type": "application/json" }, body });
    expect(foreign.status).toBe(403);
    const own = await fetch(`${portal.baseUrl}/api/v1/users`, { method: "POST", headers: { cookie, origin: portal.baseUrl, "content-type": "application/json" }, body });
    expect(own.status).toBe(201);
    const reads = await fetch(`${portal.baseUrl}/api/v1/me`, { headers: { cookie } });
    expect(reads.status).toBe(200);
  });

  it("refuses host URIs and image paths that would reach outside what vmdesk manages (400 with the reason)", async () => {
    const admin = restClient(portal.baseUrl, adminToken);
    const host = { name: "h", domainType: "qemu", cpuMode: "none", poolPath: "/var/lib/vmdesk-h" };
    for (const [uri, reason] of [
      ["qemu+ext:///system?command=/usr/bin/touch%20/tmp/pwned", /transport "qemu\+ext"/],
      ["ext:///system?command=/bin/true", /transport "ext"/],
      ["QEMU+SSH://host/system", /transport/],
      ["qemu+ssh://host/system?%63ommand=/bin/true", /"command" is not allowed/],
      ["qemu+ssh://host/system?netcat=/tmp/nc", /"netcat"/],
      ["qemu+unix:///system?socket=/tmp/evil.sock", /"socket"/],
      ["qemu+tls://host/system?no_verify=1", /"no_verify"/],
      ["qemu+ssh://host/system?keyfile=/root/.ssh/id_rsa", /inside \/etc\/vmdesk\/ssh/],
      ["qemu+ssh://a@b@evil/system", /user@host/],
      ["qemu:///system\n", /ASCII/],
    ] as const) {
      const r = await admin("POST", "/hosts", { ...host, uri });
      expect(r.status, uri).toBe(400);
      expect(r.body.message, uri).toMatch(reason);
    }
    const ok = await admin("POST", "/hosts", { ...host, name: "ssh-host", uri: "qemu+ssh://root@hv1.example.org/system?keyfile=/etc/vmdesk/ssh/id_ed25519" });
    expect(ok.status).toBe(201);
    const patched = await admin("PATCH", `/hosts/${ok.body.id}`, { uri: "qemu+ssh://hv1.example.org/system?command=/bin/sh" });
    expect(patched.status).toBe(400);
    expect(patched.body.message).toMatch(/"command"/);
    expect((await admin("PATCH", `/hosts/${ok.body.id}`, { enabled: false })).status).toBe(200);

    // Images: only inside the host's pool or an image directory vmdesk knows, symlinks resolved.
    const image = { format: "qcow2", minDiskGiB: 1, hostId: seededHostId };
    const link = path.join(demoImageDir, "evil-link.qcow2");
    fs.rmSync(link, { force: true });
    fs.symlinkSync("/etc/shadow", link);
    try {
      for (const p of ["/etc/shadow", "/dev/sda", "/proc/self/environ", `${demoImageDir}/../session-secret`, `${demoImageDir}x/a.qcow2`, link]) {
        const r = await admin("POST", "/images", { ...image, name: `evil ${path.basename(p)}`, path: p });
        expect(r.status, p).toBe(400);
        expect(r.body.message, p).toMatch(/path/);
      }
    } finally {
      fs.rmSync(link, { force: true });
    }
    const good = await admin("POST", "/images", { ...image, name: "demo again", path: path.join(demoImageDir, "vmdesk-demo.qcow2") });
    expect(good.status).toBe(201);
    const inPool = await admin("POST", "/images", { ...image, name: "in the pool", path: path.join(dataDir, "pool", "base.qcow2") });
    expect(inPool.status).toBe(201);
  });

  it("accepts booleans and numbers only as JSON booleans and numbers: \"false\" and {} never disable anyone", async () => {
    const admin = restClient(portal.baseUrl, adminToken);
    const u = await admin("POST", "/users", { username: "boolvictim", password: "victim-password-1", role: "tenant" });
    expect(u.status).toBe(201);
    const victim = restClient(portal.baseUrl, (await restClient(portal.baseUrl)("POST", "/auth/token", { username: "boolvictim", password: "victim-password-1" })).body.token);
    for (const body of [{ disabled: "false" }, { disabled: "true" }, { disabled: 0 }, { disabled: null }, { role: "tenant", disabled: "no" }]) {
      const r = await admin("PATCH", `/users/${u.body.id}`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    const empty = await admin("PATCH", `/users/${u.body.id}`, {});
    expect(empty.status).toBe(200);
    expect(empty.body.disabled).toBe(false);
    expect((await victim("GET", "/me")).status).toBe(200);
    // The schemas are shared with tRPC: a REST call must not have turned coercion on for later calls.
    expect((await admin("PUT", `/users/${u.body.id}/quota`, { vms: "1", vcpus: 1, memoryMiB: 128, diskGiB: 1 })).status).toBe(400);
    expect((await admin("GET", "/audit?limit=abc")).status).toBe(400);
    expect((await admin("GET", "/audit?limit=2")).body.items.length).toBe(2);
  });

  it("refuses control characters and newlines in names", async () => {
    const admin = restClient(portal.baseUrl, adminToken);
    const images = await admin("GET", "/images");
    const imageId = images.body[0].id;
    for (const bad of ["evil\nname", "tab\there", "bell\u0007", "nul\u0000x", "\u001b[31mred", "del\u007f", "line\u2028sep", "bidi\u202eevil"]) {
      expect((await admin("POST", "/vms", { name: bad, imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 })).status, JSON.stringify(bad)).toBe(400);
      expect((await admin("POST", "/users", { username: "ctrl-user", password: "password-123", displayName: bad })).status, JSON.stringify(bad)).toBe(400);
      expect((await admin("POST", "/tokens", { name: bad })).status, JSON.stringify(bad)).toBe(400);
      expect((await admin("POST", "/hosts", { name: bad, uri: "qemu+tcp://10.9.9.9/system", domainType: "qemu", cpuMode: "none", poolPath: "/var/lib/x" })).status, JSON.stringify(bad)).toBe(400);
      expect((await admin("POST", "/images", { name: bad, path: path.join(demoImageDir, "vmdesk-demo.qcow2"), format: "qcow2", hostId: seededHostId })).status, JSON.stringify(bad)).toBe(400);
      expect((await admin("POST", "/classes", { name: bad, imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, budget: { vms: 1, vcpus: 1, memoryMiB: 96, diskGiB: 1 } })).status, JSON.stringify(bad)).toBe(400);
    }
    expect((await admin("POST", "/users", { username: "ünïcode-ok", password: "password-123", displayName: "Zoë Ünïcode 山田" })).status).toBe(400); // usernames stay ASCII
    expect((await admin("POST", "/users", { username: "unicode-ok", password: "password-123", displayName: "Zoë Ünïcode 山田" })).status).toBe(201);
  });

  it("answers unknown methods with 405 and Allow, and an empty JSON body as {}", async () => {
    for (const method of ["TRACE", "PROPFIND", "LINK"]) {
      const r = await rawRequest(method, "/api/v1/vms", { headers: { authorization: `Bearer ${adminToken}` } });
      expect(r.status, method).toBe(405);
      expect(r.headers.allow).toMatch(/GET/);
      expect(r.headers.allow).toMatch(/POST/);
      expect(JSON.parse(r.body)).toMatchObject({ code: "METHOD_NOT_SUPPORTED" });
    }
    const put = await restClient(portal.baseUrl, adminToken)("PUT", "/vms", {});
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, POST");
    // Empty body with a JSON content type: parsed as {} and answered on its merits (here: no such VM).
    const r = await restClient(portal.baseUrl, adminToken)("POST", "/vms/00000000-0000-4000-8000-000000000000/poweroff", undefined, { "content-type": "application/json" });
    expect(r.status).toBe(404);
  });

  it("limits request bodies before reading them (413 on REST, tRPC and sign-in; 411 without a length)", async () => {
    const big = Buffer.alloc(2 * 1024 * 1024 + 1, "a");
    const json = { "content-type": "application/json", authorization: `Bearer ${adminToken}` };
    for (const [p, headers] of [
      ["/api/v1/users", json],
      ["/api/trpc/user.create", json],
      ["/api/auth/callback/credentials", { "content-type": "application/x-www-form-urlencoded" }],
    ] as const) {
      const r = await rawRequest("POST", p, { headers: { ...headers, "content-length": String(big.length) }, chunks: [big] });
      expect(r.status, p).toBe(413);
      expect(JSON.parse(r.body), p).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
      const chunked = await rawRequest("POST", p, { headers: { ...headers, "transfer-encoding": "chunked" }, chunks: [big.subarray(0, 1000), big.subarray(0, 1000)] });
      expect(chunked.status, p).toBe(411);
    }
    // Sign-in forms are small: its limit is far below the API's.
    const form = Buffer.alloc(100 * 1024, "a");
    const signin = await rawRequest("POST", "/api/auth/callback/credentials", { headers: { "content-type": "application/x-www-form-urlencoded", "content-length": String(form.length) }, chunks: [form] });
    expect(signin.status).toBe(413);
    // Ordinary requests are untouched.
    expect((await restClient(portal.baseUrl, adminToken)("GET", "/me")).status).toBe(200);
  });

  it("sends security headers: CSP with frame-ancestors, Referrer-Policy, nosniff (no HSTS over plain http)", async () => {
    for (const p of ["/signin", "/api/v1/me"]) {
      const res = await fetch(`${portal.baseUrl}${p}`, { redirect: "manual" });
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp, p).toMatch(/frame-ancestors 'none'/);
      expect(csp, p).toMatch(/default-src 'self'/);
      expect(csp, p).toMatch(/object-src 'none'/);
      expect(res.headers.get("referrer-policy"), p).toBe("same-origin");
      expect(res.headers.get("x-content-type-options"), p).toBe("nosniff");
      expect(res.headers.get("strict-transport-security"), p).toBeNull();
    }
  });

  it("aggregates unauthenticated refusals in the audit log: one row per address, reason and minute, with a count", async () => {
    const anon = restClient(portal.baseUrl, "vmd_forged-token-for-aggregation");
    for (let i = 0; i < 12; i++) expect((await anon("GET", "/me")).status).toBe(401);
    const audit = await restClient(portal.baseUrl, adminToken)("GET", "/audit?action=auth.refused&limit=50");
    expect(audit.status).toBe(200);
    const rows = audit.body.items.filter((e: { detail: { reason?: string } }) => e.detail?.reason === "invalid token");
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.length).toBeLessThanOrEqual(2); // the 12 may straddle a minute boundary
    expect(rows.reduce((n: number, e: { count: number }) => n + e.count, 0)).toBeGreaterThanOrEqual(12);
    expect(rows[0]).toMatchObject({ result: "denied", ip: expect.any(String) });
  });

  it("documents what it does: statuses per operation, the error body as sent, servers from NEXTAUTH_URL, /auth/token without security", async () => {
    const doc = await (await fetch(`${portal.baseUrl.replace("localhost", "127.0.0.1")}/api/v1/openapi.json`, { headers: { host: "evil.example" } })).json();
    expect(doc.servers).toEqual([{ url: `${portal.baseUrl}/api/v1` }]);
    expect(doc.paths["/auth/token"].post.security).toEqual([]);
    expect(Object.keys(doc.paths["/auth/token"].post.responses)).toEqual(expect.arrayContaining(["201", "400", "401", "413", "429"]));
    expect(Object.keys(doc.paths["/vms"].post.responses)).toEqual(expect.arrayContaining(["202", "400", "401", "403", "404", "409", "413"]));
    expect(Object.keys(doc.paths["/vms/{id}/start"].post.responses)).toEqual(expect.arrayContaining(["202", "404", "409", "412"]));
    expect(doc.paths["/vms/{id}/start"].post.responses["200"]).toBeUndefined();
    expect(Object.keys(doc.paths["/users"].post.responses)).toContain("201");
    // The own password change checks a password like sign-in does, and is limited like it.
    expect(Object.keys(doc.paths["/me/password"].post.responses)).toEqual(expect.arrayContaining(["200", "400", "401", "403", "429"]));
    // Error bodies are exactly {code, message, issues?}: what the API sends (checked on every response).
    const checker = new OpenApiChecker(doc);
    const bad = await restClient(portal.baseUrl, adminToken, { checkSpec: false })("POST", "/users", { username: "x" });
    expect(Object.keys(bad.body).sort()).toEqual(["code", "issues", "message"]);
    checker.check({ method: "POST", path: "/users", ...bad });
    expect(() => checker.check({ method: "POST", path: "/users", status: 400, body: { ...bad.body, data: {} }, headers: new Headers() })).toThrow(/does not match/);
    expect(() => checker.check({ method: "GET", path: "/me", status: 418, body: {}, headers: new Headers() })).toThrow(/not documented/);
  });
});
