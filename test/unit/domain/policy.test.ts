import { describe, expect, it } from "vitest";
import { AppError } from "../../../server/domain/errors.ts";
import { ACTIONS, authorize, can, canSee, vmScope, type Action, type Actor, type Role } from "../../../server/domain/policy.ts";

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
  "image.list": { admin: "111", teacher: "111", tenant: "111" },
  "image.manage": { admin: "111", teacher: "000", tenant: "000" },
  "host.list": { admin: "111", teacher: "000", tenant: "000" },
  "host.manage": { admin: "111", teacher: "000", tenant: "000" },
  "user.list": { admin: "111", teacher: "000", tenant: "000" },
  "user.manage": { admin: "111", teacher: "000", tenant: "000" },
  "quota.manage": { admin: "111", teacher: "000", tenant: "000" },
  "quota.readOwn": { admin: "111", teacher: "111", tenant: "111" },
  "audit.read": { admin: "111", teacher: "000", tenant: "000" },
  "token.manageOwn": { admin: "111", teacher: "111", tenant: "111" },
  "system.reconcile": { admin: "111", teacher: "000", tenant: "000" },
};

const OBJECT_ACTIONS: Action[] = ["vm.read", "vm.start", "vm.shutdown", "vm.poweroff", "vm.reboot", "vm.pause", "vm.resume", "vm.delete", "vm.console", "operation.read"];
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

  it("classifies exactly the VM/operation actions as object ('own') actions", () => {
    expect(ALL_ACTIONS.filter((a) => ACTIONS[a] === "own").sort()).toEqual([...OBJECT_ACTIONS].sort());
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
    expect(adminOnly.sort()).toEqual(["audit.read", "host.list", "host.manage", "image.manage", "quota.manage", "system.reconcile", "user.list", "user.manage", "vm.listAll"]);
    for (const role of ["teacher", "tenant"] as const) {
      for (const action of adminOnly) {
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

  it("admins see every VM; teachers and tenants only their own", () => {
    expect(vmScope(actor("admin"))).toEqual({});
    expect(vmScope(actor("teacher"))).toEqual({ ownerId: "teacher-1" });
    expect(vmScope(actor("tenant"))).toEqual({ ownerId: "tenant-1" });
  });

  it("a disabled admin is scoped to their own VMs, not to everyone's", () => {
    expect(vmScope(actor("admin", true))).toEqual({ ownerId: "admin-1" });
  });
});
