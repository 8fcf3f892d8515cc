import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleRestRequest } from "../../../server/api/rest.ts";
import { db } from "../../../server/db/client.ts";
import { AlertEvaluator } from "../../../server/jobs/alerts.ts";
import type { Clock } from "../../../server/jobs/clock.ts";
import { runLeases } from "../../../server/jobs/leases.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { bootedGuest, deleteQuietly, type LocalGuest } from "../../support/guest-serial.ts";
import { domainExists, settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

const DAY = 86_400_000;
let portal: Portal;
let alice: AuthenticatedUser;
let bob: AuthenticatedUser;
let guest: LocalGuest | null = null;

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_leases");
  alice = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
  bob = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
}, 120_000);
afterAll(async () => {
  if (portal) await deleteQuietly(portal, alice, guest);
  await portal?.close();
});

async function rest(token: string, method: string, urlPath: string, body?: unknown) {
  const res = await handleRestRequest(
    new Request(`http://localhost/api/v1${urlPath}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) }),
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const clockAt = (at: Date): Clock => ({ now: () => at });

describe("leases of personal VMs", () => {
  it("warns, stops at expiry and deletes after the grace period, audited; extensions stop at the maximum; class VMs untouched", async () => {
    const adminToken = (await portal.caller(portal.admin).auth.createToken({ name: "leases" })).token;
    const aliceToken = (await portal.caller(alice).auth.createToken({ name: "leases" })).token;
    const bobToken = (await portal.caller(bob).auth.createToken({ name: "leases" })).token;

    // The policy is the admin's: tenants neither read nor change it.
    expect((await rest(aliceToken, "GET", "/leases/policy")).status).toBe(403);
    const policy = { roles: { admin: { defaultDays: 0, maxExtensionDays: 0 }, teacher: { defaultDays: 30, maxExtensionDays: 30 }, tenant: { defaultDays: 10, maxExtensionDays: 5 } }, warnDays: 2, graceDays: 3 };
    expect((await rest(adminToken, "PUT", "/leases/policy", { ...policy, warnDays: -1 })).status).toBe(400);
    expect((await rest(adminToken, "PUT", "/leases/policy", policy)).status).toBe(200);
    expect((await rest(adminToken, "GET", "/leases/policy")).body).toEqual(policy);

    const before = Date.now();
    guest = await bootedGuest(portal, alice, "leased");
    const created = await db().vm.findUniqueOrThrow({ where: { id: guest.id } });
    expect(created.leaseExpiresAt!.getTime()).toBeGreaterThanOrEqual(before + 10 * DAY);
    expect(created.leaseExpiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + 10 * DAY);
    expect((await portal.caller(alice).vm.get({ id: guest.id })).leaseExpiresAt).toEqual(created.leaseExpiresAt);

    // Extensions: someone else's VM is not found; past the maximum (5 days in all) is 409.
    const leaseUrl = `/vms/${guest.id}/lease`;
    expect((await rest(bobToken, "POST", leaseUrl, { days: 1 })).status).toBe(404);
    expect((await rest(aliceToken, "POST", leaseUrl, { days: 6 })).status).toBe(409);
    expect((await rest(aliceToken, "POST", leaseUrl, { days: 0 })).status).toBe(400);
    const ext = await rest(aliceToken, "POST", leaseUrl, { days: 3 });
    expect(ext.status).toBe(200);
    expect(ext.body.extendedDays).toBe(3);
    expect(new Date(ext.body.expiresAt as string).getTime()).toBe(created.leaseExpiresAt!.getTime() + 3 * DAY);
    const over = await rest(aliceToken, "POST", leaseUrl, { days: 3 });
    expect(over.status).toBe(409);
    expect(over.body.message).toMatch(/2 left/);
    const expiresAt = new Date(ext.body.expiresAt as string);

    // A class VM (with an expiry it should never have) is never touched by the lease job.
    const klass = await db().class.create({ data: { name: `c-${randomUUID().slice(0, 6)}`, ownerId: portal.admin.id, imageId: portal.imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1, maxVms: 1, maxVcpus: 1, maxMemoryMiB: 128, maxDiskGiB: 1 } });
    const classVmId = randomUUID();
    await db().vm.create({
      data: { id: classVmId, name: "class vm", ownerId: bob.id, hostId: portal.hostId, vcpus: 1, memoryMiB: 128, diskGiB: 1, domainName: `vmdesk-${classVmId}`, state: "stopped", quotaHeld: false, classId: klass.id, leaseExpiresAt: new Date(Date.now() - 100 * DAY) },
    });

    // Nothing before the warning window.
    expect(await runLeases(db(), clockAt(new Date(expiresAt.getTime() - 3 * DAY)))).toEqual({ warned: 0, stopped: 0, deleted: 0 });

    // The warning: recorded once, shown on the VM, raised as an alert (for the webhook / e-mail channels).
    const warnAt = new Date(expiresAt.getTime() - DAY);
    expect(await runLeases(db(), clockAt(warnAt))).toEqual({ warned: 1, stopped: 0, deleted: 0 });
    expect(await runLeases(db(), clockAt(warnAt))).toEqual({ warned: 0, stopped: 0, deleted: 0 });
    expect((await portal.caller(alice).vm.get({ id: guest.id })).leaseWarnedAt).toEqual(warnAt);
    await new AlertEvaluator(db(), clockAt(warnAt), 10_000, { url: undefined, secret: undefined }).evaluateOnce();
    const alert = await db().alert.findFirst({ where: { kind: "vm.lease_expiring", openKey: `vm.lease_expiring:${guest.id}` } });
    expect(alert?.state).toBe("firing");
    expect(alert?.message).toContain("leased");

    // Expiry: a durable shutdown operation stops the guest.
    const stopAt = new Date(expiresAt.getTime() + 60_000);
    expect(await runLeases(db(), clockAt(stopAt))).toEqual({ warned: 0, stopped: 1, deleted: 0 });
    const stopOp = await db().operation.findFirstOrThrow({ where: { vmId: guest.id, kind: "shutdown" }, orderBy: { createdAt: "desc" } });
    expect(stopOp.requestedById).toBeNull();
    expect((await settle(portal, alice, stopOp.id, 120_000)).status).toBe("succeeded");
    await waitFor("VM stopped", async () => (await db().vm.findUniqueOrThrow({ where: { id: guest!.id } })).state === "stopped", 30_000);
    expect(virsh("domstate", guest.domainName).trim()).toBe("shut off");
    // Stopped, inside the grace period: nothing more happens.
    expect(await runLeases(db(), clockAt(new Date(expiresAt.getTime() + 2 * DAY)))).toEqual({ warned: 0, stopped: 0, deleted: 0 });

    // After the grace period: deleted, domain and all.
    const deleteAt = new Date(expiresAt.getTime() + 3 * DAY + 60_000);
    expect(await runLeases(db(), clockAt(deleteAt))).toEqual({ warned: 0, stopped: 0, deleted: 1 });
    const delOp = await db().operation.findFirstOrThrow({ where: { vmId: guest.id, kind: "delete" } });
    expect((await settle(portal, alice, delOp.id, 120_000)).status).toBe("succeeded");
    expect(domainExists(guest.domainName)).toBe(false);
    await expect(portal.caller(alice).vm.get({ id: guest.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    guest = null;

    // Every step audited.
    const vmId = delOp.vmId!;
    const actions = (await db().auditEvent.findMany({ where: { targetId: vmId, action: { startsWith: "vm.lease" } }, orderBy: { at: "asc" } })).map((a) => `${a.action}:${a.result}`);
    expect(actions).toEqual(["vm.lease.extend:denied", "vm.lease.extend:ok", "vm.lease.extend:denied", "vm.lease.warn:ok", "vm.lease.stop:ok", "vm.lease.delete:ok"]);
    expect(await db().auditEvent.count({ where: { action: "lease.policy" } })).toBe(1);

    // The class VM: no operation, no warning, no audit.
    const classVm = await db().vm.findUniqueOrThrow({ where: { id: classVmId } });
    expect(classVm.activeOperationId).toBeNull();
    expect(classVm.leaseWarnedAt).toBeNull();
    expect(await db().operation.count({ where: { vmId: classVmId } })).toBe(0);
    await db().vm.update({ where: { id: classVmId }, data: { deletedAt: new Date(), state: "deleted" } });
  }, 420_000);
});
