import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCaller } from "../../../server/api/root.ts";
import { createContext } from "../../../server/api/trpc.ts";
import { db } from "../../../server/db/client.ts";
import { issueTokenForCredentials, loadActiveUser, resolveApiToken, type AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { AppError } from "../../../server/domain/errors.ts";
import { domainExists, settle, startPortal, virsh, type Portal } from "../../support/harness.ts";

let portal: Portal;
let tenantA: AuthenticatedUser;
let tenantB: AuthenticatedUser;
let teacher: AuthenticatedUser;
let vmId: string;
let domainName: string;
let createOpId: string;

const ZERO = { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 };
const PASSWORD = "tenant-password-1";

/** Runs `fn` and returns the TRPCError it rejected with (fails the test if it resolved). */
async function trpcError(fn: () => Promise<unknown>): Promise<TRPCError> {
  const outcome = await fn().then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.err).toBeInstanceOf(TRPCError);
  return outcome.err as TRPCError;
}

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_tenant_isolation");
  tenantA = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
  tenantB = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
  const t = await portal.caller(portal.admin).user.create({ username: `teach${randomUUID().slice(0, 6)}`, password: PASSWORD, role: "teacher" });
  teacher = (await loadActiveUser(db(), t.id))!;
  const created = await portal.caller(tenantA).vm.create({ name: "a-private", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
  vmId = created.vm.id;
  domainName = created.vm.domainName;
  createOpId = created.operation.id;
  const op = await settle(portal, tenantA, createOpId);
  expect(op.status).toBe("succeeded");
  expect((await portal.caller(tenantA).vm.get({ id: vmId })).state).toBe("running");
});

afterAll(async () => {
  try {
    const vm = await portal.caller(tenantA).vm.get({ id: vmId });
    if (vm.activeOperationId) await settle(portal, tenantA, vm.activeOperationId);
    const del = await portal.caller(tenantA).vm.delete({ id: vmId });
    await settle(portal, tenantA, del.operation.id);
  } catch {
    // deleted by the last test already
  }
  await portal?.close();
});

describe("tenant isolation", () => {
  it("another tenant (and a teacher) gets NOT_FOUND from every VM procedure on A's VM", async () => {
    for (const outsider of [tenantB, teacher]) {
      const api = portal.caller(outsider);
      const calls: Array<[string, () => Promise<unknown>]> = [
        ["vm.get", () => api.vm.get({ id: vmId })],
        ["vm.operations", () => api.vm.operations({ id: vmId })],
        ["vm.start", () => api.vm.start({ id: vmId })],
        ["vm.shutdown", () => api.vm.shutdown({ id: vmId })],
        ["vm.shutdown force", () => api.vm.shutdown({ id: vmId, force: true, timeoutS: 1 })],
        ["vm.poweroff", () => api.vm.poweroff({ id: vmId })],
        ["vm.reboot", () => api.vm.reboot({ id: vmId })],
        ["vm.pause", () => api.vm.pause({ id: vmId })],
        ["vm.resume", () => api.vm.resume({ id: vmId })],
        ["vm.delete", () => api.vm.delete({ id: vmId })],
        ["vm.setHa", () => api.vm.setHa({ id: vmId, enabled: false, priority: 1 })],
        ["vm.resize", () => api.vm.resize({ id: vmId, memoryMiB: 128 })],
        ["snapshot.list", () => api.snapshot.list({ id: vmId })],
        ["snapshot.create", () => api.snapshot.create({ id: vmId, name: "theirs" })],
        ["snapshot.revert", () => api.snapshot.revert({ id: vmId, name: "theirs" })],
        ["snapshot.delete", () => api.snapshot.delete({ id: vmId, name: "theirs" })],
        ["operation.get", () => api.operation.get({ id: createOpId })],
      ];
      for (const [name, call] of calls) {
        const err = await trpcError(call);
        expect(err.code, `${outsider.role} ${name}`).toBe("NOT_FOUND");
        // Indistinguishable from a VM that does not exist.
        expect(err.message, `${outsider.role} ${name}`).toMatch(/^(VM|operation) not found$/);
      }
      const missingVm = await trpcError(() => api.vm.get({ id: randomUUID() }));
      expect(missingVm.code).toBe("NOT_FOUND");
      expect(missingVm.message).toBe((await trpcError(() => api.vm.get({ id: vmId }))).message);

      expect((await api.vm.list()).map((v) => v.id)).not.toContain(vmId);
      expect(await api.vm.list()).toEqual([]);
      expect((await trpcError(() => api.vm.list({ all: true }))).code).toBe("FORBIDDEN");
    }

    // None of that touched A's VM: still running, only the create operation on record.
    const a = portal.caller(tenantA);
    const vm = await a.vm.get({ id: vmId });
    expect(vm.state).toBe("running");
    expect(vm.activeOperationId).toBeNull();
    expect((await a.vm.operations({ id: vmId })).map((o) => o.kind)).toEqual(["create"]);
    expect(virsh("domstate", domainName).trim()).toBe("running");
  });

  it("an owner cannot put their VM ahead of everyone else's HA restarts: priorities above 50 are an admin's", async () => {
    const owner = portal.caller(tenantA);
    expect((await trpcError(() => owner.vm.setHa({ id: vmId, enabled: false, priority: 100 }))).code).toBe("FORBIDDEN");
    expect((await trpcError(() => owner.vm.setHa({ id: vmId, enabled: false, priority: 51 }))).message).toMatch(/above 50 are given by admins/);
    expect((await owner.vm.setHa({ id: vmId, enabled: false, priority: 50 })).haPriority).toBe(50);
    expect((await portal.caller(portal.admin).vm.setHa({ id: vmId, enabled: false, priority: 90 })).haPriority).toBe(90);
    // The owner toggling HA without naming a priority keeps the admin's.
    expect((await owner.vm.setHa({ id: vmId, enabled: false })).haPriority).toBe(90);
    await portal.caller(portal.admin).vm.setHa({ id: vmId, enabled: false, priority: 0 });
  });

  it("the owner and an admin can see it", async () => {
    expect((await portal.caller(tenantA).vm.list()).map((v) => v.id)).toEqual([vmId]);
    const admin = portal.caller(portal.admin);
    const all = await admin.vm.list({ all: true });
    expect(all.map((v) => v.id)).toContain(vmId);
    expect(all.find((v) => v.id === vmId)!.owner.username).toBe(tenantA.username);
    expect((await admin.vm.list()).map((v) => v.id)).not.toContain(vmId);
    const vm = await admin.vm.get({ id: vmId });
    expect(vm.id).toBe(vmId);
    expect(vm.ownerId).toBe(tenantA.id);
    expect((await admin.vm.operations({ id: vmId })).map((o) => o.id)).toEqual([createOpId]);
    expect((await admin.operation.get({ id: createOpId })).id).toBe(createOpId);
  });

  it("tenants and teachers get FORBIDDEN from every admin procedure, and nothing changes", async () => {
    const usersBefore = await db().user.count();
    const hostsBefore = await db().host.count();
    const imagesBefore = await db().image.count();
    for (const user of [tenantB, teacher]) {
      const api = portal.caller(user);
      const calls: Array<[string, () => Promise<unknown>]> = [
        ["user.list", () => api.user.list()],
        ["user.create", () => api.user.create({ username: `evil${randomUUID().slice(0, 6)}`, password: "evil-password-1", role: "admin" })],
        ["user.update", () => api.user.update({ id: user.id, role: "admin" })],
        ["user.setQuota", () => api.user.setQuota({ id: user.id, vms: 100, vcpus: 100, memoryMiB: 100_000, diskGiB: 1000 })],
        ["host.list", () => api.host.list()],
        ["host.create", () => api.host.create({ name: "evil-host", uri: "test:///default", domainType: "qemu", cpuMode: "none", poolPath: "/tmp/evil-pool" })],
        ["host.update", () => api.host.update({ id: portal.hostId, enabled: false })],
        ["image.register", () => api.image.register({ name: "evil-image", path: "/etc/shadow", format: "raw", minDiskGiB: 1, hostId: portal.hostId })],
        ["image.delete", () => api.image.delete({ id: portal.imageId })],
        ["audit.list", () => api.audit.list({ limit: 10 })],
      ];
      for (const [name, call] of calls) {
        const err = await trpcError(call);
        expect(err.code, `${user.role} ${name}`).toBe("FORBIDDEN");
      }
    }
    expect(await db().user.count()).toBe(usersBefore);
    expect(await db().host.count()).toBe(hostsBefore);
    expect(await db().image.count()).toBe(imagesBefore);
    expect((await db().host.findUniqueOrThrow({ where: { id: portal.hostId } })).enabled).toBe(true);
    expect((await portal.caller(tenantB).auth.me()).role).toBe("tenant");
    expect((await portal.caller(tenantB).auth.quota()).limits).toEqual({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
  });

  it("a disabled user's API tokens stop working at once (real token path), they cannot get a new one, and enabling does not revive them", async () => {
    const victim = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
    const issued = await issueTokenForCredentials(db(), { username: victim.username, password: PASSWORD, name: "ci" }, "127.0.0.1");
    expect((await resolveApiToken(db(), issued.token))?.id).toBe(victim.id);

    // Through the same context builder the HTTP handlers use.
    const viaHttp = async () => createCaller(await createContext({ req: new Request("http://localhost/api/trpc/vm.list", { headers: { authorization: `Bearer ${issued.token}` } }) }));
    expect(await (await viaHttp()).vm.list()).toEqual([]);

    const updated = await portal.caller(portal.admin).user.update({ id: victim.id, disabled: true });
    expect(updated.disabled).toBe(true);

    expect(await resolveApiToken(db(), issued.token)).toBeNull();
    expect(await loadActiveUser(db(), victim.id)).toBeNull();
    const err = await trpcError(async () => (await viaHttp()).vm.list());
    expect(err.code).toBe("UNAUTHORIZED");

    let signInError: unknown;
    await issueTokenForCredentials(db(), { username: victim.username, password: PASSWORD }, "127.0.0.1").catch((e: unknown) => (signInError = e));
    expect(signInError).toBeInstanceOf(AppError);
    expect((signInError as AppError).code).toBe("UNAUTHORIZED");

    // Re-enabling does not bring the old token back: disabling revoked it (issue 8); a new sign-in works.
    await portal.caller(portal.admin).user.update({ id: victim.id, disabled: false });
    expect(await resolveApiToken(db(), issued.token)).toBeNull();
    const reissued = await issueTokenForCredentials(db(), { username: victim.username, password: PASSWORD, name: "ci" }, "127.0.0.1");
    expect((await resolveApiToken(db(), reissued.token))?.id).toBe(victim.id);
  });

  it("an unauthenticated caller gets UNAUTHORIZED", async () => {
    const anon = createCaller({ user: null, authMethod: null, sameOrigin: true, ip: "127.0.0.1", requestId: randomUUID() });
    for (const call of [() => anon.vm.list(), () => anon.vm.get({ id: vmId }), () => anon.vm.delete({ id: vmId }), () => anon.auth.me(), () => anon.user.list()]) {
      expect((await trpcError(call)).code).toBe("UNAUTHORIZED");
    }
    const badToken = createCaller(await createContext({ req: new Request("http://localhost/api/trpc/vm.list", { headers: { authorization: "Bearer not-a-token" } }) }));
    expect((await trpcError(() => badToken.vm.list())).code).toBe("UNAUTHORIZED");
  });

  it("invalid input is BAD_REQUEST naming the field", async () => {
    const err = await trpcError(() => portal.caller(tenantB).vm.create({ name: "tiny", imageId: portal.imageId, vcpus: 1, memoryMiB: 10, diskGiB: 1 }));
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toContain("memoryMiB");
    expect((await portal.caller(tenantB).auth.quota()).used).toEqual(ZERO);
  });

  it("an action the VM's state does not allow is PRECONDITION_FAILED", async () => {
    const err = await trpcError(() => portal.caller(tenantA).vm.resume({ id: vmId }));
    expect(err.code).toBe("PRECONDITION_FAILED");
    expect(err.message).toBe("cannot resume a VM that is running (needs paused)");
    expect((await portal.caller(tenantA).vm.get({ id: vmId })).activeOperationId).toBeNull();
  });

  it("the owner deletes the VM: gone for everyone, quota back to zero", async () => {
    const a = portal.caller(tenantA);
    const del = await a.vm.delete({ id: vmId });
    expect((await settle(portal, tenantA, del.operation.id)).status).toBe("succeeded");
    expect((await trpcError(() => a.vm.get({ id: vmId }))).code).toBe("NOT_FOUND");
    expect((await trpcError(() => portal.caller(portal.admin).vm.get({ id: vmId }))).code).toBe("NOT_FOUND");
    expect(domainExists(domainName)).toBe(false);
    expect((await a.auth.quota()).used).toEqual(ZERO);
  });
});
