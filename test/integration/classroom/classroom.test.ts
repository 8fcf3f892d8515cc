/**
 * A class of 10 students on the real demo guest: preview, provision, stop-all, start-all, reset-all,
 * checkpoint and revert, freeze; and a class over its budget refused by the preview, creating nothing.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { ensureAdmin } from "../../../server/services/user-service.ts";
import { loadActiveUser, type AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { domainExists, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

const N = 10;
let portal: Portal;
let teacher: AuthenticatedUser;

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_classroom");
  await ensureAdmin(db(), "teach", "teacher-password-1");
  const t = await db().user.update({ where: { username: "teach" }, data: { role: "teacher" } });
  await portal.caller(portal.admin).user.setTeachingQuota({ id: t.id, vms: 50, vcpus: 50, memoryMiB: 8192, diskGiB: 50 });
  teacher = (await loadActiveUser(db(), t.id))!;
}, 120_000);
afterAll(async () => {
  await portal?.close();
});

async function allStudents(classId: string, pred: (s: { state: string | null; operation: unknown }) => boolean, what: string, timeoutMs = 180_000) {
  const t0 = Date.now();
  return waitFor(what, async () => {
    const c = await portal.caller(teacher).class.get({ id: classId });
    if (!c.students.every(pred)) return null;
    console.log(`[classroom] ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return c;
  }, timeoutMs, 500);
}

/** A roster account after it replaced its temporary password (until then the API refuses it). */
async function withOwnPassword(userId: string, created: Array<{ username: string; temporaryPassword: string }>): Promise<AuthenticatedUser> {
  const before = (await loadActiveUser(db(), userId))!;
  const temp = created.find((c) => c.username === before.username)!.temporaryPassword;
  await portal.caller(before).user.changePassword({ currentPassword: temp, newPassword: `own-${temp}` });
  return (await loadActiveUser(db(), userId))!;
}

const idle = (state: string) => (s: { state: string | null; operation: unknown }) => s.state === state && s.operation === null;

describe("a class of 10", () => {
  it("is previewed, provisioned, stopped, started, reset, checkpointed, reverted and frozen", { timeout: 540_000 }, async () => {
    const api = portal.caller(teacher);
    const { id } = await api.class.create({ name: "Networks 101", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, budget: { vms: N, vcpus: N, memoryMiB: N * 96, diskGiB: N } });
    const roster = Array.from({ length: N }, (_, i) => `stud${i},Student ${i},stud${i}@example.org`).join("\n");
    const added = await api.class.addStudents({ id, csv: roster });
    expect(added.created).toHaveLength(N);
    expect(added.created[0]!.temporaryPassword.length).toBeGreaterThan(12);

    const preview = await api.class.preview({ id });
    expect(preview).toMatchObject({ fits: true, vms: N, reasons: [] });
    expect(preview.budget.after).toEqual({ vms: N, vcpus: N, memoryMiB: N * 96, diskGiB: N });

    const t0 = Date.now();
    const provisioned = await api.class.provision({ id });
    expect(provisioned.vms).toBe(N);
    const running = await allStudents(id, idle("running"), "all VMs running");
    console.log(`[classroom] ${N} VMs provisioned to running in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(running.budget.used).toEqual({ vms: N, vcpus: N, memoryMiB: N * 96, diskGiB: N });
    for (const s of running.students) expect(domainExists(`vmdesk-${s.vmId}`)).toBe(true);

    // Students see their class VM among their own, and nothing else (once their temporary password is replaced).
    const student = await withOwnPassword(running.students[0]!.userId, added.created);
    const mine = await portal.caller(student).vm.list();
    expect(mine.map((v) => v.id)).toEqual([running.students[0]!.vmId]);

    expect((await api.class.stopAll({ id })).queued).toHaveLength(N);
    await allStudents(id, idle("stopped"), "all VMs stopped");
    expect((await api.class.startAll({ id })).queued).toHaveLength(N);
    await allStudents(id, idle("running"), "all VMs running again");

    const cp = await api.class.createCheckpoint({ id, name: "after lab 2" });
    expect(cp.queued).toHaveLength(N);
    await allStudents(id, idle("running"), "checkpoint taken");
    const failedSnapshots = await db().operation.count({ where: { kind: "snapshot", status: "failed", vm: { classId: id } } });
    expect(failedSnapshots).toBe(0);
    const someDomain = `vmdesk-${running.students[3]!.vmId}`;
    const snapName = (await db().classCheckpoint.findFirstOrThrow({ where: { classId: id, name: "after lab 2" } })).snapshot;
    expect(virsh("snapshot-list", someDomain, "--name")).toContain(snapName);

    // Revert one, then all.
    const one = await api.class.revertCheckpoint({ id, checkpointId: cp.id, userIds: [running.students[3]!.userId] });
    expect(one.queued.map((q) => q.username)).toEqual([running.students[3]!.username]);
    await allStudents(id, idle("running"), "one VM reverted");
    expect((await api.class.revertCheckpoint({ id, checkpointId: cp.id })).queued).toHaveLength(N);
    await allStudents(id, idle("running"), "all VMs reverted");
    expect(await db().operation.count({ where: { kind: "revert", status: "failed", vm: { classId: id } } })).toBe(0);

    // Reset all: fresh linked clones, still running.
    expect((await api.class.resetAll({ id })).queued).toHaveLength(N);
    await allStudents(id, idle("running"), "all VMs reset");
    expect(await db().operation.count({ where: { kind: "reset", status: "failed", vm: { classId: id } } })).toBe(0);

    // Exam freeze: students locked out at once, VMs shut down, submission snapshots taken.
    expect((await api.class.freeze({ id })).queued).toHaveLength(N);
    await expect(portal.caller(student).vm.start({ id: running.students[0]!.vmId! })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await allStudents(id, idle("stopped"), "all VMs frozen");
    expect(virsh("snapshot-list", `vmdesk-${running.students[0]!.vmId}`, "--name")).toContain("submission");
    expect(await db().operation.count({ where: { kind: "freeze", status: "failed", vm: { classId: id } } })).toBe(0);

    expect((await api.class.deleteAll({ id })).queued).toHaveLength(N);
    await waitFor("all VMs deleted", async () => (await api.class.get({ id })).students.every((s) => s.vmId === null), 120_000, 500);
    // Checkpoints and reverts ran once each: none waited for one of the host connection's native
    // threads until its call timed out and was retried ("revert all" used to take every thread).
    // Not every kind: a freeze's power-off may be retried on a loaded host, because libvirt can take
    // its own 15 s to kill a QEMU, the length of our call bound (seen once in CI).
    const retried = await db().operation.findMany({ where: { vm: { classId: id }, kind: { in: ["snapshot", "revert"] }, attempts: { gt: 1 } }, select: { kind: true, attempts: true } });
    expect(retried).toEqual([]);
    const after = await api.class.get({ id });
    expect(after.budget.used).toEqual({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
    for (const s of running.students) expect(domainExists(`vmdesk-${s.vmId}`)).toBe(false);
    // Deleting a frozen VM keeps its submission (submissions.test.ts reads them); these are removed here.
    const kept = await db().vmSubmission.findMany({ where: { classId: id } });
    expect(kept).toHaveLength(N);
    for (const k of kept) fs.rmSync(k.path, { force: true });
  });

  it("a class over its budget is refused by the preview with the reason and provisioning creates nothing", async () => {
    const api = portal.caller(teacher);
    const { id } = await api.class.create({ name: "Too small", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, budget: { vms: 2, vcpus: 8, memoryMiB: 1000, diskGiB: 8 } });
    await api.class.addStudents({ id, csv: "big1\nbig2\nbig3" });
    const preview = await api.class.preview({ id });
    expect(preview.fits).toBe(false);
    expect(preview.vms).toBe(3);
    expect(preview.reasons).toEqual([expect.stringMatching(/class budget exceeded: VM count limit 2, in use 0, requested 3/)]);
    await expect(api.class.provision({ id })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/VM count limit 2/) });
    expect(await db().vm.count({ where: { classId: id } })).toBe(0);
    expect(await db().operation.count({ where: { vm: { classId: id } } })).toBe(0);
    expect((await api.class.get({ id })).budget.used).toEqual({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
  });
});

describe("what students see of their class", () => {
  it("their VM names its class, and an expiry warning appears within the warning window", async () => {
    const api = portal.caller(teacher);
    const expiresAt = new Date(Date.now() + 2 * 86_400_000);
    const { id } = await api.class.create({ name: "Expiring", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, budget: { vms: 1, vcpus: 1, memoryMiB: 96, diskGiB: 1 }, expiresAt });
    const added = await api.class.addStudents({ id, csv: "expiring1" });
    await api.class.provision({ id });
    const c = await allStudents(id, idle("running"), "the VM running");
    const student = await withOwnPassword(c.students[0]!.userId, added.created);
    const [vm] = await portal.caller(student).vm.list();
    expect(vm?.class).toMatchObject({ id, name: "Expiring", frozen: false, expiryWarning: expect.stringMatching(/will be deleted in 2 days/) });
    expect(c.expiryWarning).toMatch(/will be deleted in 2 days/);
    await api.class.deleteAll({ id });
    await waitFor("VM deleted", async () => (await api.class.get({ id })).students.every((s) => s.vmId === null), 60_000, 500);
  });
});
