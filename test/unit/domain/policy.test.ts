import { describe, expect, it } from "vitest";
import type { ClassRules } from "../../../server/domain/classroom.ts";
import { AppError } from "../../../server/domain/errors.ts";
import { ACTIONS, authorize, can, canSee, consoleAction, submissionViewerTarget, vmScope, type Action, type Actor, type Role } from "../../../server/domain/policy.ts";

const ROLES: Role[] = ["admin", "teacher", "tenant"];
const actor = (role: Role, disabled = false): Actor => ({ id: `${role}-1`, role, disabled });
const own = (a: Actor) => ({ ownerId: a.id });
const foreign = { ownerId: "someone-else" };

/**
 * The expected decisions, written out by hand. Each cell is three digits for
 * [target owned by the actor, target owned by someone else, no target]: 1 = allowed.
 */
const EXPECTED: Record<Action, Record<Role, "111" | "100" | "000">> = {
  "vm.create": { admin: "111", teacher: "111", tenant: "111" },
  "vm.list": { admin: "111", teacher: "111", tenant: "111" },
  "vm.listAll": { admin: "111", teacher: "000", tenant: "000" },
  "vm.read": { admin: "111", teacher: "100", tenant: "100" },
  "vm.start": { admin: "111", teacher: "100", tenant: "100" },
  "vm.shutdown": { admin: "111", teacher: "100", tenant: "100" },
  "vm.poweroff": { admin: "111", teacher: "100", tenant: "100" },
  "vm.reboot": { admin: "111", teacher: "100", tenant: "100" },
  "vm.pause": { admin: "111", teacher: "100", tenant: "100" },
  "vm.resume": { admin: "111", teacher: "100", tenant: "100" },
  "vm.delete": { admin: "111", teacher: "100", tenant: "100" },
  "vm.console": { admin: "111", teacher: "100", tenant: "100" },
  "operation.read": { admin: "111", teacher: "100", tenant: "100" },
  // Everyone lists flavors (tenants see sizes only, the service shapes that); admins define them.
  "flavor.list": { admin: "111", teacher: "111", tenant: "111" },
  "flavor.manage": { admin: "111", teacher: "000", tenant: "000" },
  "image.list": { admin: "111", teacher: "111", tenant: "111" },
  "image.manage": { admin: "111", teacher: "000", tenant: "000" },
  "image.upload": { admin: "111", teacher: "111", tenant: "111" },
  "image.publish": { admin: "111", teacher: "000", tenant: "000" },
  "host.list": { admin: "111", teacher: "000", tenant: "000" },
  "host.manage": { admin: "111", teacher: "000", tenant: "000" },
  "host.pin": { admin: "111", teacher: "000", tenant: "000" },
  "user.list": { admin: "111", teacher: "000", tenant: "000" },
  "user.manage": { admin: "111", teacher: "000", tenant: "000" },
  "quota.manage": { admin: "111", teacher: "000", tenant: "000" },
  "quota.readOwn": { admin: "111", teacher: "111", tenant: "111" },
  "audit.read": { admin: "111", teacher: "000", tenant: "000" },
  "metrics.scrape": { admin: "111", teacher: "000", tenant: "000" },
  "token.manageOwn": { admin: "111", teacher: "111", tenant: "111" },
  "sshKey.manageOwn": { admin: "111", teacher: "111", tenant: "111" },
  "system.reconcile": { admin: "111", teacher: "000", tenant: "000" },
  // Reset exists for class VMs only (see "class relationships" below). Owners snapshot and revert
  // their personal VMs (tenant snapshots); on a class VM a student's revert follows the class's switch.
  "vm.reset": { admin: "111", teacher: "000", tenant: "000" },
  "vm.revert": { admin: "111", teacher: "100", tenant: "100" },
  "vm.snapshot": { admin: "111", teacher: "100", tenant: "100" },
  "vm.migrate": { admin: "111", teacher: "000", tenant: "000" },
  // Owners resize their personal VMs (the service refuses class VMs: their size is the class's).
  "vm.resize": { admin: "111", teacher: "100", tenant: "100" },
  // Owners mark their own VMs highly available (the restart needs shared storage, checked by the service).
  "vm.ha": { admin: "111", teacher: "100", tenant: "100" },
  // Owners extend their own VMs' leases (the service bounds the days by the role's maximum).
  "vm.lease": { admin: "111", teacher: "100", tenant: "100" },
  "lease.manage": { admin: "111", teacher: "000", tenant: "000" },
  "class.create": { admin: "111", teacher: "111", tenant: "000" },
  "class.list": { admin: "111", teacher: "111", tenant: "111" },
  "class.join": { admin: "111", teacher: "111", tenant: "111" },
  // Class actions need a class the actor teaches; owning something is not enough.
  "class.read": { admin: "111", teacher: "000", tenant: "000" },
  "class.manage": { admin: "111", teacher: "000", tenant: "000" },
  "submission.view": { admin: "111", teacher: "000", tenant: "000" },
};

const OBJECT_ACTIONS: Action[] = ["vm.read", "vm.start", "vm.shutdown", "vm.poweroff", "vm.reboot", "vm.pause", "vm.resume", "vm.delete", "vm.console", "vm.reset", "vm.revert", "vm.snapshot", "vm.resize", "vm.migrate", "vm.ha", "vm.lease", "operation.read"];
const CLASS_ACTIONS: Action[] = ["class.read", "class.manage", "submission.view"];
const ALL_ACTIONS = Object.keys(ACTIONS) as Action[];

function codeOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
}

describe("policy: the table is complete", () => {
  it("has an expectation for every action, and no expectation for an unknown action", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...ALL_ACTIONS].sort());
  });

  it("classifies exactly the VM/operation actions as VM actions and the class actions as class actions", () => {
    expect(ALL_ACTIONS.filter((a) => ACTIONS[a] === "vm").sort()).toEqual([...OBJECT_ACTIONS].sort());
    expect(ALL_ACTIONS.filter((a) => ACTIONS[a] === "class").sort()).toEqual([...CLASS_ACTIONS].sort());
  });
});

describe("policy: can (actions × roles × ownership)", () => {
  for (const action of ALL_ACTIONS) {
    for (const role of ROLES) {
      const [owner, nonOwner, none] = EXPECTED[action][role].split("").map((c) => c === "1");
      it(`${role} ${action}: owner=${owner} non-owner=${nonOwner} no-target=${none}`, () => {
        const a = actor(role);
        expect(can(a, action, own(a))).toBe(owner);
        expect(can(a, action, foreign)).toBe(nonOwner);
        expect(can(a, action)).toBe(none);
      });
    }
  }

  it("a disabled actor can do nothing, whatever the role and target", () => {
    for (const role of ROLES) {
      const a = actor(role, true);
      for (const action of ALL_ACTIONS) {
        expect(can(a, action, own(a)), `${role} ${action} own`).toBe(false);
        expect(can(a, action, foreign), `${role} ${action} foreign`).toBe(false);
        expect(can(a, action), `${role} ${action} no target`).toBe(false);
      }
    }
  });

  it("disabled: undefined counts as enabled, false as enabled", () => {
    expect(can({ id: "u", role: "tenant" }, "vm.create")).toBe(true);
    expect(can({ id: "u", role: "tenant", disabled: false }, "vm.create")).toBe(true);
  });
});

describe("policy: authorize", () => {
  it("never throws where can() allows, for every cell of the table", () => {
    for (const action of ALL_ACTIONS) {
      for (const role of ROLES) {
        const a = actor(role);
        const [owner, nonOwner, none] = EXPECTED[action][role].split("").map((c) => c === "1");
        if (owner) expect(codeOf(() => authorize(a, action, own(a))), `${role} ${action} own`).toBeNull();
        if (nonOwner) expect(codeOf(() => authorize(a, action, foreign)), `${role} ${action} foreign`).toBeNull();
        if (none) expect(codeOf(() => authorize(a, action)), `${role} ${action}`).toBeNull();
      }
    }
  });

  it("object actions on someone else's object are NOT_FOUND for non-admins (existence is not revealed)", () => {
    for (const role of ["teacher", "tenant"] as const) {
      for (const action of OBJECT_ACTIONS) {
        expect(codeOf(() => authorize(actor(role), action, foreign)), `${role} ${action}`).toBe("NOT_FOUND");
      }
    }
  });

  it("admins may do object actions on anyone's object", () => {
    for (const action of OBJECT_ACTIONS) expect(codeOf(() => authorize(actor("admin"), action, foreign))).toBeNull();
  });

  it("denied global actions are FORBIDDEN, with or without a target, and the message names the action", () => {
    const adminOnly = ALL_ACTIONS.filter((a) => ACTIONS[a] === "global" && EXPECTED[a].tenant === "000");
    expect(adminOnly.sort()).toEqual(["audit.read", "class.create", "flavor.manage", "host.list", "host.manage", "host.pin", "image.manage", "image.publish", "lease.manage", "metrics.scrape", "quota.manage", "system.reconcile", "user.list", "user.manage", "vm.listAll"]);
    expect(codeOf(() => authorize(actor("teacher"), "class.create"))).toBeNull();
    for (const role of ["teacher", "tenant"] as const) {
      for (const action of adminOnly.filter((a) => !(role === "teacher" && a === "class.create"))) {
        expect(codeOf(() => authorize(actor(role), action)), `${role} ${action}`).toBe("FORBIDDEN");
        expect(codeOf(() => authorize(actor(role), action, foreign)), `${role} ${action} foreign`).toBe("FORBIDDEN");
        expect(codeOf(() => authorize(actor(role), action, own(actor(role)))), `${role} ${action} own`).toBe("FORBIDDEN");
      }
    }
    expect(() => authorize(actor("tenant"), "user.list")).toThrow("you may not user list");
  });

  it("an object action without a target is FORBIDDEN for non-admins (nothing to be not-found)", () => {
    for (const action of OBJECT_ACTIONS) expect(codeOf(() => authorize(actor("tenant"), action))).toBe("FORBIDDEN");
  });

  it("a disabled actor is refused everything: global actions FORBIDDEN, object actions NOT_FOUND, even their own objects", () => {
    for (const role of ROLES) {
      const a = actor(role, true);
      for (const action of ALL_ACTIONS) {
        if (ACTIONS[action] === "global") {
          expect(codeOf(() => authorize(a, action)), `${role} ${action}`).toBe("FORBIDDEN");
        } else {
          expect(codeOf(() => authorize(a, action, own(a))), `${role} ${action} own`).toBe("NOT_FOUND");
          expect(codeOf(() => authorize(a, action, foreign)), `${role} ${action} foreign`).toBe("NOT_FOUND");
          expect(codeOf(() => authorize(a, action)), `${role} ${action} none`).toBe("FORBIDDEN");
        }
      }
    }
  });
});

describe("policy: canSee and vmScope", () => {
  it("canSee: own objects for everyone, foreign objects only for admins, nothing when disabled", () => {
    expect(canSee(actor("tenant"), own(actor("tenant")))).toBe(true);
    expect(canSee(actor("tenant"), foreign)).toBe(false);
    expect(canSee(actor("teacher"), foreign)).toBe(false);
    expect(canSee(actor("admin"), foreign)).toBe(true);
    expect(canSee(actor("admin", true), foreign)).toBe(false);
    expect(canSee(actor("tenant", true), own(actor("tenant", true)))).toBe(false);
  });

  it("admins see every VM; tenants only their own; teachers their own and their classes' VMs", () => {
    expect(vmScope(actor("admin"))).toEqual({});
    expect(vmScope(actor("teacher"))).toEqual({ OR: [{ ownerId: "teacher-1" }, { class: { teachers: { some: { userId: "teacher-1" } } } }] });
    expect(vmScope(actor("tenant"))).toEqual({ OR: [{ ownerId: "tenant-1" }] });
  });

  it("a disabled admin is scoped to their own VMs, not to everyone's", () => {
    expect(vmScope(actor("admin", true))).toEqual({ OR: [{ ownerId: "admin-1" }] });
  });
});

describe("policy: class relationships", () => {
  const teacher = actor("teacher");
  const otherTeacher: Actor = { id: "teacher-2", role: "teacher" };
  const student: Actor = { id: "student-1", role: "tenant" };
  const rules: ClassRules = { studentsMayPower: true, studentsMayReset: true, studentsMayRevert: false, frozenAt: null };
  const classVm = (r = rules) => ({ ownerId: student.id, teacherIds: [teacher.id], classRules: r });
  const klass = { teacherIds: [teacher.id] };

  it("a teacher may do everything but migrate to their class's VMs, including reset and revert; another teacher nothing (not found)", () => {
    for (const action of OBJECT_ACTIONS) {
      expect(can(teacher, action, classVm()), action).toBe(action !== "vm.migrate");
      expect(codeOf(() => authorize(otherTeacher, action, classVm())), action).toBe("NOT_FOUND");
    }
    // Moving VMs between hosts spends fleet capacity: admins only.
    expect(codeOf(() => authorize(teacher, "vm.migrate", classVm()))).toBe("FORBIDDEN");
  });

  it("a tenant listed as a teacher gains nothing: only the teacher role teaches", () => {
    const t: Actor = { id: "x", role: "tenant" };
    expect(can(t, "class.manage", { teacherIds: ["x"] })).toBe(false);
    expect(can(t, "vm.read", { ownerId: "s", teacherIds: ["x"], classRules: rules })).toBe(false);
  });

  it("class read/manage: its teachers and admins; others get NOT_FOUND", () => {
    for (const action of CLASS_ACTIONS) {
      expect(can(teacher, action, klass)).toBe(true);
      expect(can(actor("admin"), action, klass)).toBe(true);
      expect(codeOf(() => authorize(otherTeacher, action, klass))).toBe("NOT_FOUND");
      expect(codeOf(() => authorize(student, action, klass))).toBe("NOT_FOUND");
    }
  });

  it("a submission viewer is its class's: its teachers and admins see it; the student owning the VM and other teachers get NOT_FOUND", () => {
    const viewer = submissionViewerTarget([teacher.id]);
    expect(consoleAction(true)).toBe("submission.view");
    expect(consoleAction(false)).toBe("vm.console");
    expect(can(teacher, "submission.view", viewer)).toBe(true);
    expect(can(actor("admin"), "submission.view", viewer)).toBe(true);
    expect(codeOf(() => authorize(student, "submission.view", viewer))).toBe("NOT_FOUND");
    expect(codeOf(() => authorize(otherTeacher, "submission.view", viewer))).toBe("NOT_FOUND");
    // Owning the student VM grants nothing on its viewer, whatever the class switches say.
    expect(can(student, "submission.view", { ...viewer, ownerId: student.id, classRules: rules })).toBe(false);
    expect(can({ ...teacher, scopes: ["read"] }, "submission.view", viewer)).toBe(false);
  });

  it("a student's class VM follows the class switches and can never be deleted by the student", () => {
    const vm = classVm();
    const expected: Record<string, boolean> = {
      "vm.read": true, "operation.read": true, "vm.console": true,
      "vm.start": true, "vm.shutdown": true, "vm.poweroff": true, "vm.reboot": true, "vm.pause": true, "vm.resume": true,
      "vm.reset": true, "vm.revert": false, "vm.delete": false, "vm.snapshot": false, "vm.resize": false, "vm.migrate": false, "vm.ha": false, "vm.lease": false,
    };
    for (const action of OBJECT_ACTIONS) expect(can(student, action, vm), action).toBe(expected[action]);
    expect(can(student, "vm.start", classVm({ ...rules, studentsMayPower: false }))).toBe(false);
    expect(codeOf(() => authorize(student, "vm.delete", vm))).toBe("FORBIDDEN");
  });

  it("a frozen class locks students out of everything but seeing their VM", () => {
    const vm = classVm({ ...rules, frozenAt: new Date() });
    for (const action of OBJECT_ACTIONS) {
      expect(can(student, action, vm), action).toBe(action === "vm.read" || action === "operation.read");
    }
    expect(can(teacher, "vm.console", vm)).toBe(true);
  });
});
