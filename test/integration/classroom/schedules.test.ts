/**
 * Classroom schedules with an injected clock: `runSchedules` is called directly at chosen instants
 * (the background scheduler is pushed out to an hour), while the real worker carries out what it
 * queues against real libvirt — session pre-start and end-of-session shutdown, the freeze
 * deadline's submission snapshot, and expiry deleting the class's VMs.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { runSchedules } from "../../../server/jobs/scheduler.ts";
import { loadActiveUser, type AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { domainExists, settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

const MIN = 60_000;
const NOTHING = { started: 0, stopped: 0, frozen: 0, expired: 0 };

let portal: Portal;
let teacher: AuthenticatedUser;
let classId: string;
let domains: string[];
let vmIds: string[];
/** The schedule's T: the session starts at T+30 min. */
const T = Date.now();
const at = (minutes: number) => ({ now: () => new Date(T + minutes * MIN) });

/** Operations of `kind` on the class's VMs, oldest first. */
async function opsOf(kind: string) {
  return db().operation.findMany({ where: { vmId: { in: vmIds }, kind }, orderBy: { createdAt: "asc" }, select: { id: true, status: true, params: true, requestedById: true } });
}

async function settleAll(ops: Array<{ id: string }>) {
  const done = await Promise.all(ops.map((o) => settle(portal, teacher, o.id)));
  expect(done.map((o) => o.status)).toEqual(ops.map(() => "succeeded"));
}

const domstates = () => domains.map((d) => virsh("domstate", d).trim());

beforeAll(async () => {
  process.env.VMDESK_SCHEDULER_INTERVAL_MS = "3600000";
  portal = await startPortal("vmdesk_it_class_schedules");
  const u = await portal.caller(portal.admin).user.create({ username: `teach${randomUUID().slice(0, 6)}`, password: "teacher-password-1", role: "teacher" });
  await portal.caller(portal.admin).user.setTeachingQuota({ id: u.id, vms: 2, vcpus: 2, memoryMiB: 192, diskGiB: 2 });
  teacher = (await loadActiveUser(db(), u.id))!;
  const students = await Promise.all([0, 1].map(() => portal.newTenant({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 })));
  const t = portal.caller(teacher);
  classId = (
    await t.class.create({ name: "scheduled", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, budget: { vms: 2, vcpus: 2, memoryMiB: 192, diskGiB: 2 }, preStartMinutes: 10 })
  ).id;
  await t.class.addStudents({ id: classId, usernames: students.map((s) => s.username) });
  const provisioned = await t.class.provision({ id: classId });
  await settleAll(provisioned.operations.map((id) => ({ id })));
  vmIds = (await t.class.get({ id: classId })).students.map((s) => s.vmId!);
  domains = await Promise.all(vmIds.map(async (id) => (await t.vm.get({ id })).domainName));
  for (const id of vmIds) await settleAll([(await t.vm.poweroff({ id })).operation]);
  expect(domstates()).toEqual(["shut off", "shut off"]);
  await t.class.addSession({ id: classId, startsAt: new Date(T + 30 * MIN), endsAt: new Date(T + 90 * MIN) });
});

afterAll(async () => {
  try {
    const left = await db().vm.findMany({ where: { classId, deletedAt: null }, select: { id: true, activeOperationId: true } });
    await Promise.all(left.filter((v) => v.activeOperationId).map((v) => settle(portal, teacher, v.activeOperationId!)));
    if (left.length) await settleAll((await portal.caller(teacher).class.deleteAll({ id: classId })).queued.map((q) => ({ id: q.operationId })));
  } finally {
    await portal?.close();
  }
});

describe("class schedules (injected clock)", () => {
  it("does nothing 11 minutes before the session's pre-start", async () => {
    expect(await runSchedules(db(), at(19))).toEqual(NOTHING);
    expect(await opsOf("start")).toEqual([]);
    const [session] = (await portal.caller(teacher).class.get({ id: classId })).sessions;
    expect(session!.startedAt).toBeNull();
  });

  it("starts every VM preStartMinutes before the session, exactly once", async () => {
    expect(await runSchedules(db(), at(20))).toEqual({ ...NOTHING, started: 2 });
    const starts = await opsOf("start");
    expect(starts).toHaveLength(2);
    // Queued in the teacher's name: the class takes its own turns (worker, heavy-call slots), not
    // the portal's, which HA restarts and every other class's schedule would otherwise share.
    expect(starts.map((o) => o.requestedById)).toEqual([teacher.id, teacher.id]);
    await settleAll(starts);
    expect(domstates()).toEqual(["running", "running"]);
    const [session] = (await portal.caller(teacher).class.get({ id: classId })).sessions;
    expect(session!.startedAt).toEqual(new Date(T + 20 * MIN));

    // The same instant again (another tick, another leader): startedAt is claimed, nothing is queued.
    expect(await runSchedules(db(), at(20))).toEqual(NOTHING);
    expect(await runSchedules(db(), at(45))).toEqual(NOTHING);
    expect(await opsOf("start")).toHaveLength(2);
  });

  it("shuts every VM down at the session's end (forced after the timeout), exactly once", async () => {
    expect(await runSchedules(db(), at(89))).toEqual(NOTHING);
    expect(await runSchedules(db(), at(90))).toEqual({ ...NOTHING, stopped: 2 });
    const shutdowns = await opsOf("shutdown");
    expect(shutdowns.map((o) => o.params)).toEqual([{ force: true, timeoutS: 30 }, { force: true, timeoutS: 30 }]);
    expect(shutdowns.map((o) => o.requestedById)).toEqual([teacher.id, teacher.id]);
    await settleAll(shutdowns);
    expect(domstates()).toEqual(["shut off", "shut off"]);
    const [session] = (await portal.caller(teacher).class.get({ id: classId })).sessions;
    expect(session!.endedAt).toEqual(new Date(T + 90 * MIN));
    expect(await runSchedules(db(), at(91))).toEqual(NOTHING);
    expect(await opsOf("shutdown")).toHaveLength(2);
  });

  it("at the freeze deadline: frozen, every VM shut down with a submission snapshot", async () => {
    const t = portal.caller(teacher);
    await settleAll((await t.class.startAll({ id: classId })).queued.map((q) => ({ id: q.operationId })));
    expect(domstates()).toEqual(["running", "running"]);
    await t.class.update({ id: classId, freezeAt: new Date(T + 100 * MIN) });
    expect(await runSchedules(db(), at(99))).toEqual(NOTHING);

    expect(await runSchedules(db(), at(100))).toEqual({ ...NOTHING, frozen: 2 });
    const c = await t.class.get({ id: classId });
    expect(c.frozenAt).toEqual(new Date(T + 100 * MIN));
    expect(c.checkpoints.map((cp) => [cp.name, cp.kind])).toEqual([["submission", "submission"]]);
    const freezes = await opsOf("freeze");
    expect(freezes.map((o) => o.params)).toEqual([{ snapshot: "submission" }, { snapshot: "submission" }]);
    expect(freezes.map((o) => o.requestedById)).toEqual([teacher.id, teacher.id]);
    await settleAll(freezes);
    expect(domstates()).toEqual(["shut off", "shut off"]);
    for (const d of domains) expect(virsh("snapshot-list", d, "--name").split("\n").map((l) => l.trim())).toContain("submission");
    expect(await runSchedules(db(), at(101))).toEqual(NOTHING);
  });

  it("class.get warns before expiry", async () => {
    const t = portal.caller(teacher);
    await t.class.update({ id: classId, expiresAt: new Date(Date.now() + 10 * 86_400_000) });
    expect((await t.class.get({ id: classId })).expiryWarning).toBeNull();
    const expiresAt = new Date(Date.now() + 30 * 3_600_000);
    await t.class.update({ id: classId, expiresAt });
    expect((await t.class.get({ id: classId })).expiryWarning).toBe(
      `This class's VMs will be deleted in 30 hours (${expiresAt.toISOString().slice(0, 16).replace("T", " ")} UTC). Save your work elsewhere.`,
    );
  });

  it("after expiry every VM of the class is deleted, domains included, and expiredAt is set", async () => {
    const t = portal.caller(teacher);
    await t.class.update({ id: classId, expiresAt: new Date(T + 110 * MIN) });
    expect(await runSchedules(db(), at(109))).toEqual(NOTHING);
    expect(await runSchedules(db(), at(110))).toEqual({ ...NOTHING, expired: 2 });
    const deletes = await opsOf("delete");
    expect(deletes.map((o) => o.requestedById)).toEqual([teacher.id, teacher.id]);
    await settleAll(deletes);
    await waitFor("class VMs deleted", async () => (await db().vm.count({ where: { classId, deletedAt: null } })) === 0);
    for (const d of domains) expect(domainExists(d)).toBe(false);
    const c = await t.class.get({ id: classId });
    expect(c.expiredAt).toEqual(new Date(T + 110 * MIN));
    expect(c.students.map((s) => s.vmId)).toEqual([null, null]);
    expect(c.budget.used).toEqual({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
    expect(await runSchedules(db(), at(111))).toEqual(NOTHING);
    expect(await opsOf("delete")).toHaveLength(2);
  });
});
