/**
 * The REST API over real HTTP against the real portal process (Next + tRPC + trpc-to-openapi +
 * in-process worker), real PostgreSQL and real libvirt.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disconnectDb } from "../../../server/db/client.ts";
import { seedDatabase, waitFor } from "../../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../../support/server.ts";

let portal: RunningPortal;
let adminToken: string;

beforeAll(async () => {
  const { url } = await seedDatabase("vmdesk_it_rest");
  await disconnectDb();
  portal = await startPortalServer(url, { VMDESK_SIGNIN_LIMIT_PER_ACCOUNT: "5", VMDESK_SIGNIN_LIMIT_PER_ADDRESS: "1000" });
});
afterAll(async () => {
  await portal?.stop();
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

    const paused = await tenant("POST", `/vms/${vmId}/pause`);
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
});
