/**
 * Classroom authorization through the real tRPC router: every class procedure × role, and what
 * students and outsiders may do to class VMs (two real student guests plus one personal VM).
 *
 * Class procedures run their allowed calls against class M (no VMs, so bulk actions queue nothing)
 * and every denied call against both M and class A (real VMs), which must come out untouched.
 */
import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { loadActiveUser, type AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { settle, startPortal, virsh, type Portal } from "../../support/harness.ts";

const ROLES = ["admin", "teacher", "coTeacher", "otherTeacher", "student", "otherStudent", "tenant"] as const;
type RoleName = (typeof ROLES)[number];
type Outcome = "ok" | "NOT_FOUND" | "FORBIDDEN";
const OK = "ok";
const NF = "NOT_FOUND";
const FB = "FORBIDDEN";

let portal: Portal;
const users = {} as Record<RoleName, AuthenticatedUser>;
let classA: string;
let classB: string;
let classM: string;
let joinCodeD: string;
let mCheckpoint: string;
let keptSession: string;
/** Per allowed role: a roster entry / session of M that role's call may consume. */
const dummyStudent = {} as Partial<Record<RoleName, string>>;
const spareSession = {} as Partial<Record<RoleName, string>>;
/** Student VMs of class A, by role. */
let vmOf: { student: { id: string; domainName: string }; classmate: { id: string; domainName: string } };
let personalVmId: string;

const FAR = Date.now() + 30 * 86_400_000;
const template = { vcpus: 1, memoryMiB: 96, diskGiB: 1 };

async function outcome(fn: () => Promise<unknown>): Promise<Outcome | string> {
  try {
    await fn();
    return OK;
  } catch (err) {
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
}

async function newStaff(role: "teacher"): Promise<AuthenticatedUser> {
  const u = await portal.caller(portal.admin).user.create({ username: `${role}${randomUUID().slice(0, 6)}`, password: "teacher-password-1", role });
  await portal.caller(portal.admin).user.setTeachingQuota({ id: u.id, vms: 20, vcpus: 20, memoryMiB: 4096, diskGiB: 20 });
  return (await loadActiveUser(db(), u.id))!;
}

function classInput(name: string, extra: Record<string, unknown> = {}) {
  return { name, imageId: portal.imageId, ...template, budget: { vms: 2, vcpus: 2, memoryMiB: 192, diskGiB: 2 }, ...extra };
}

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_class_authz");
  users.admin = portal.admin;
  users.teacher = await newStaff("teacher");
  users.coTeacher = await newStaff("teacher");
  users.otherTeacher = await newStaff("teacher");
  users.student = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
  users.otherStudent = await portal.newTenant({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
  users.tenant = await portal.newTenant({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
  const classmate = await portal.newTenant({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
  const t = portal.caller(users.teacher);
  const other = portal.caller(users.otherTeacher);

  // A: the real class (two students, two guests); M: the matrix class, same staff, no VMs.
  classA = (await t.class.create(classInput("A", { studentsMayPower: false, studentsMayReset: false }))).id;
  classM = (await t.class.create(classInput("M"))).id;
  for (const id of [classA, classM]) await t.class.addTeachers({ id, usernames: [users.coTeacher.username] });
  await t.class.addStudents({ id: classA, usernames: [users.student.username, classmate.username] });
  const dummies = await Promise.all(["admin", "teacher", "coTeacher"].map(() => portal.newTenant({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 })));
  await t.class.addStudents({ id: classM, usernames: [users.student.username, ...dummies.map((d) => d.username)] });
  (["admin", "teacher", "coTeacher"] as const).forEach((r, i) => (dummyStudent[r] = dummies[i]!.id));
  mCheckpoint = (await t.class.createCheckpoint({ id: classM, name: "base" })).id;
  for (const r of ["admin", "teacher", "coTeacher"] as const) {
    spareSession[r] = (await t.class.addSession({ id: classM, startsAt: new Date(FAR), endsAt: new Date(FAR + 3_600_000) })).id;
  }
  keptSession = (await t.class.addSession({ id: classM, startsAt: new Date(FAR), endsAt: new Date(FAR + 3_600_000) })).id;

  // B: another teacher's class with its own student; D: a class to join by code.
  classB = (await other.class.create(classInput("B"))).id;
  await other.class.addStudents({ id: classB, usernames: [users.otherStudent.username] });
  const d = (await other.class.create(classInput("D"))).id;
  joinCodeD = (await other.class.get({ id: d })).joinCode!;

  const provisioned = await t.class.provision({ id: classA });
  const personal = await portal.caller(users.student).vm.create({ name: "own", imageId: portal.imageId, ...template });
  personalVmId = personal.vm.id;
  for (const op of provisioned.operations) expect((await settle(portal, users.teacher, op)).status).toBe("succeeded");
  expect((await settle(portal, users.student, personal.operation.id)).status).toBe("succeeded");
  const roster = (await t.class.get({ id: classA })).students;
  const vmFor = async (userId: string) => {
    const vmId = roster.find((s) => s.userId === userId)!.vmId!;
    return { id: vmId, domainName: (await t.vm.get({ id: vmId })).domainName };
  };
  vmOf = { student: await vmFor(users.student.id), classmate: await vmFor(classmate.id) };
});

afterAll(async () => {
  try {
    const t = portal.caller(users.teacher);
    const all = await portal.caller(portal.admin).vm.list({ all: true });
    await Promise.all(all.filter((v) => v.activeOperationId).map((v) => settle(portal, portal.admin, v.activeOperationId!)));
    const ops = [...(await t.class.deleteAll({ id: classA })).queued.map((q) => q.operationId)];
    ops.push((await portal.caller(users.student).vm.delete({ id: personalVmId })).operation.id);
    await Promise.all(ops.map((op) => settle(portal, portal.admin, op)));
  } finally {
    await portal?.close();
  }
});

interface Ids {
  classId: string;
  role: RoleName;
}

/**
 * Every class procedure. Columns: admin, teacher, co-teacher, other teacher, enrolled student,
 * another class's student, unrelated tenant.
 */
const CLASS_PROCEDURES: Array<[string, [Outcome, Outcome, Outcome, Outcome, Outcome, Outcome, Outcome], (api: ReturnType<Portal["caller"]>, x: Ids) => Promise<unknown>]> = [
  ["create", [OK, OK, OK, OK, FB, FB, FB], (api, x) => api.class.create(classInput(`new by ${x.role}`))],
  ["list", [OK, OK, OK, OK, OK, OK, OK], (api) => api.class.list()],
  ["teachingQuota", [OK, OK, OK, OK, OK, OK, OK], (api) => api.class.teachingQuota()],
  ["join", [FB, FB, FB, FB, OK, OK, OK], (api) => api.class.join({ code: joinCodeD })],
  ["get", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.get({ id: x.classId })],
  ["update", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.update({ id: x.classId, name: `M by ${x.role}` })],
  ["addTeachers", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.addTeachers({ id: x.classId, usernames: [users.coTeacher.username] })],
  ["addStudents", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.addStudents({ id: x.classId, usernames: [users.student.username] })],
  ["removeStudent", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.removeStudent({ id: x.classId, userId: dummyStudent[x.role] ?? users.student.id })],
  ["preview", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.preview({ id: x.classId })],
  ["provision", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.provision({ id: x.classId, userIds: [] })],
  ["startAll", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.startAll({ id: x.classId })],
  ["stopAll", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.stopAll({ id: x.classId })],
  ["resetAll", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.resetAll({ id: x.classId })],
  ["deleteAll", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.deleteAll({ id: x.classId })],
  ["freeze", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.freeze({ id: x.classId })],
  ["unfreeze", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.unfreeze({ id: x.classId })],
  ["createCheckpoint", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.createCheckpoint({ id: x.classId, name: `cp by ${x.role}` })],
  ["revertCheckpoint", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.revertCheckpoint({ id: x.classId, checkpointId: mCheckpoint })],
  ["addSession", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.addSession({ id: x.classId, startsAt: new Date(FAR), endsAt: new Date(FAR + 3_600_000) })],
  ["deleteSession", [OK, OK, OK, NF, NF, NF, NF], (api, x) => api.class.deleteSession({ id: x.classId, sessionId: spareSession[x.role] ?? keptSession })],
];

/** VM procedures an outsider might try on a class VM, with the input they would send. */
const VM_PROCEDURES: Array<[string, (api: ReturnType<Portal["caller"]>, vmId: string) => Promise<unknown>]> = [
  ["vm.get", (api, id) => api.vm.get({ id })],
  ["vm.operations", (api, id) => api.vm.operations({ id })],
  ["vm.start", (api, id) => api.vm.start({ id })],
  ["vm.shutdown", (api, id) => api.vm.shutdown({ id, force: true, timeoutS: 1 })],
  ["vm.poweroff", (api, id) => api.vm.poweroff({ id })],
  ["vm.reboot", (api, id) => api.vm.reboot({ id })],
  ["vm.pause", (api, id) => api.vm.pause({ id })],
  ["vm.resume", (api, id) => api.vm.resume({ id })],
  ["vm.reset", (api, id) => api.vm.reset({ id })],
  ["vm.revert", (api, id) => api.vm.revert({ id, checkpointId: mCheckpoint })],
  ["vm.delete", (api, id) => api.vm.delete({ id })],
  ["console.open", (api, id) => api.console.open({ id, mode: "view", kind: "vnc" })],
];

describe("class procedures × roles", () => {
  it("class.list returns only the caller's classes (admins: all)", async () => {
    const ids = async (role: RoleName) => (await portal.caller(users[role]).class.list()).map((c) => c.id).sort();
    const all = await db().class.findMany({ select: { id: true } });
    expect(await ids("admin")).toEqual(all.map((c) => c.id).sort());
    expect(await ids("teacher")).toEqual([classA, classM].sort());
    expect(await ids("coTeacher")).toEqual([classA, classM].sort());
    expect(await ids("otherTeacher")).toHaveLength(2);
    expect(await ids("otherTeacher")).toContain(classB);
    expect(await ids("student")).toEqual([]);
    expect(await ids("otherStudent")).toEqual([]);
    expect(await ids("tenant")).toEqual([]);
  });

  it("every class procedure gives each role the expected code; denied calls leave class A untouched", async () => {
    const before = await snapshotOf(classA);
    const got: string[] = [];
    const want: string[] = [];
    for (const [name, expected, call] of CLASS_PROCEDURES) {
      for (const [i, role] of ROLES.entries()) {
        const api = portal.caller(users[role]);
        got.push(`${name} ${role} → ${await outcome(() => call(api, { classId: classM, role }))}`);
        want.push(`${name} ${role} → ${expected[i]}`);
        if (expected[i] !== OK) {
          got.push(`${name} ${role} on A → ${await outcome(() => call(api, { classId: classA, role }))}`);
          want.push(`${name} ${role} on A → ${expected[i]}`);
        }
      }
    }
    expect(got).toEqual(want);
    expect(await snapshotOf(classA)).toEqual(before);
    for (const vm of Object.values(vmOf)) expect(virsh("domstate", vm.domainName).trim()).toBe("running");

    // The allowed calls did what they say, on M only.
    const m = await portal.caller(users.teacher).class.get({ id: classM });
    expect(m.teachers.map((t) => t.id).sort()).toEqual([users.teacher.id, users.coTeacher.id].sort());
    expect(m.students.map((s) => s.userId)).toEqual([users.student.id]);
    expect(m.checkpoints.map((c) => c.name).sort()).toEqual(["base", "cp by admin", "cp by coTeacher", "cp by teacher", "submission"]);
    expect(m.sessions.map((s) => s.id)).toContain(keptSession);
    expect(m.frozenAt).toBeNull();
    expect(await db().vm.count({ where: { classId: classM } })).toBe(0);
    // Three tenants joined D; no staff account did.
    const d = await db().class.findUniqueOrThrow({ where: { joinCode: joinCodeD }, select: { students: { select: { userId: true } } } });
    expect(d.students.map((s) => s.userId).sort()).toEqual([users.student.id, users.otherStudent.id, users.tenant.id].sort());
  });
});

/** Everything a denied call could have changed about a class. */
async function snapshotOf(classId: string) {
  return db().class.findUniqueOrThrow({
    where: { id: classId },
    select: {
      name: true,
      frozenAt: true,
      usedVms: true,
      teachers: { select: { userId: true }, orderBy: { userId: "asc" } },
      students: { select: { userId: true }, orderBy: { userId: "asc" } },
      checkpoints: { select: { id: true } },
      sessions: { select: { id: true } },
      vms: { select: { id: true, state: true, deletedAt: true, operations: { select: { kind: true }, orderBy: { createdAt: "asc" } } }, orderBy: { id: "asc" } },
    },
  });
}

describe("class VMs × roles", () => {
  it("a student's vm.list shows their class VM among their own, and nobody else's", async () => {
    const list = async (role: RoleName) => (await portal.caller(users[role]).vm.list()).map((v) => v.id).sort();
    expect(await list("student")).toEqual([personalVmId, vmOf.student.id].sort());
    expect(await list("otherStudent")).toEqual([]);
    expect(await list("tenant")).toEqual([]);
    expect(await list("otherTeacher")).toEqual([]);
    const mine = (await portal.caller(users.student).vm.list()).find((v) => v.id === vmOf.student.id)!;
    expect(mine.state).toBe("running");
  });

  it("outsiders get NOT_FOUND from every VM procedure on a student's VM; its teachers and admins see it", async () => {
    const got: string[] = [];
    const want: string[] = [];
    const cases: Array<[RoleName, string]> = [
      ["student", vmOf.classmate.id],
      ["otherStudent", vmOf.student.id],
      ["tenant", vmOf.student.id],
      ["otherTeacher", vmOf.student.id],
    ];
    for (const [role, vmId] of cases) {
      for (const [name, call] of VM_PROCEDURES) {
        got.push(`${role} ${name} → ${await outcome(() => call(portal.caller(users[role]), vmId))}`);
        want.push(`${role} ${name} → ${NF}`);
      }
    }
    expect(got).toEqual(want);
    for (const role of ["admin", "teacher", "coTeacher"] as const) {
      expect((await portal.caller(users[role]).vm.get({ id: vmOf.student.id })).ownerId).toBe(users.student.id);
    }
    const ops = await portal.caller(users.teacher).vm.operations({ id: vmOf.classmate.id });
    expect(ops.map((o) => o.kind)).toEqual(["create"]);
  });

  it("a student's power and reset follow the class switches; deleting is never theirs", async () => {
    const t = portal.caller(users.teacher);
    const s = portal.caller(users.student);
    const id = vmOf.student.id;
    const denied = async () => ({
      start: await outcome(() => s.vm.start({ id })),
      shutdown: await outcome(() => s.vm.shutdown({ id })),
      poweroff: await outcome(() => s.vm.poweroff({ id })),
      reboot: await outcome(() => s.vm.reboot({ id })),
      reset: await outcome(() => s.vm.reset({ id })),
      delete: await outcome(() => s.vm.delete({ id })),
    });
    expect(await denied()).toEqual({ start: FB, shutdown: FB, poweroff: FB, reboot: FB, reset: FB, delete: FB });
    expect((await s.vm.get({ id })).state).toBe("running");

    await t.class.update({ id: classA, studentsMayPower: true });
    expect((await settle(portal, users.student, (await s.vm.poweroff({ id })).operation.id)).status).toBe("succeeded");
    expect(virsh("domstate", vmOf.student.domainName).trim()).toBe("shut off");
    expect(await outcome(() => s.vm.reset({ id }))).toBe(FB);
    expect((await settle(portal, users.student, (await s.vm.start({ id })).operation.id)).status).toBe("succeeded");
    expect(virsh("domstate", vmOf.student.domainName).trim()).toBe("running");

    await t.class.update({ id: classA, studentsMayReset: true });
    expect((await settle(portal, users.student, (await s.vm.reset({ id })).operation.id)).status).toBe("succeeded");
    expect((await s.vm.get({ id })).state).toBe("running");
    expect(await outcome(() => s.vm.delete({ id }))).toBe(FB);

    await t.class.update({ id: classA, studentsMayPower: false, studentsMayReset: false });
    expect(await denied()).toEqual({ start: FB, shutdown: FB, poweroff: FB, reboot: FB, reset: FB, delete: FB });
    // Their personal VM is theirs as before.
    expect((await s.vm.get({ id: personalVmId })).state).toBe("running");
  });

  it("after class.freeze students are locked out (even with the switches on); teachers keep view-only consoles", async () => {
    const t = portal.caller(users.teacher);
    const s = portal.caller(users.student);
    const id = vmOf.student.id;
    await t.class.update({ id: classA, studentsMayPower: true, studentsMayReset: true });
    expect(await outcome(() => s.console.open({ id, mode: "control", kind: "vnc" }))).toBe(OK);

    const frozen = await t.class.freeze({ id: classA });
    expect(frozen.queued).toHaveLength(2);
    // Locked at once, before the freeze operations have even run.
    expect(await outcome(() => s.vm.start({ id }))).toBe(FB);
    expect(await outcome(() => s.console.open({ id, mode: "view", kind: "vnc" }))).toBe(FB);
    for (const q of frozen.queued) expect((await settle(portal, users.teacher, q.operationId)).status).toBe("succeeded");
    expect(virsh("domstate", vmOf.student.domainName).trim()).toBe("shut off");

    const locked = {
      get: await outcome(() => s.vm.get({ id })),
      start: await outcome(() => s.vm.start({ id })),
      reset: await outcome(() => s.vm.reset({ id })),
      consoleView: await outcome(() => s.console.open({ id, mode: "view", kind: "vnc" })),
      teacherConsoleOnStopped: await outcome(() => t.console.open({ id, mode: "view", kind: "vnc" })),
    };
    expect(locked).toEqual({ get: OK, start: FB, reset: FB, consoleView: FB, teacherConsoleOnStopped: "PRECONDITION_FAILED" });

    // The teacher may start a frozen VM to look at the submission; the student still may not look.
    expect((await settle(portal, users.teacher, (await t.vm.start({ id })).operation.id)).status).toBe("succeeded");
    const ticket = await t.console.open({ id, mode: "view", kind: "vnc" });
    expect(ticket.mode).toBe("view");
    expect(await outcome(() => s.console.open({ id, mode: "view", kind: "vnc" }))).toBe(FB);
    expect(await outcome(() => s.vm.shutdown({ id }))).toBe(FB);

    await t.class.unfreeze({ id: classA });
    expect(await outcome(() => s.console.open({ id, mode: "view", kind: "vnc" }))).toBe(OK);
  });
});
