import { describe, expect, it } from "vitest";
import { AppError } from "../../../server/domain/errors.ts";
import {
  ACTIONS,
  authorize,
  can,
  procedureScope,
  roleScopes,
  scopeFor,
  scopesForNewToken,
  type Action,
  type Actor,
  type Role,
  type Scope,
} from "../../../server/domain/policy.ts";

const ALL_ACTIONS = Object.keys(ACTIONS) as Action[];
const actor = (role: Role, scopes?: Scope[]): Actor => ({ id: `${role}-1`, role, scopes });
const own = (a: Actor) => ({ ownerId: a.id });

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof AppError ? err.code : String(err);
  }
}

describe("the scope each action needs", () => {
  it("is written out here by hand for the actions that exist today", () => {
    const expected: Partial<Record<Action, Scope>> = {
      "vm.list": "read",
      "vm.read": "read",
      "operation.read": "read",
      "image.list": "read",
      "quota.readOwn": "read",
      "class.list": "read",
      "class.read": "read",
      "token.manageOwn": "read",
      "vm.create": "vms",
      "sshKey.manageOwn": "vms",
      "vm.start": "vms",
      "vm.poweroff": "vms",
      "vm.delete": "vms",
      "vm.console": "vms",
      "vm.snapshot": "vms",
      "class.create": "vms",
      "class.join": "vms",
      "class.manage": "vms",
      "vm.listAll": "admin",
      "user.list": "admin",
      "user.manage": "admin",
      "quota.manage": "admin",
      "host.list": "admin",
      "host.manage": "admin",
      "image.manage": "admin",
      "audit.read": "admin",
      "system.reconcile": "admin",
    };
    for (const [action, scope] of Object.entries(expected)) expect(scopeFor(action as Action), action).toBe(scope);
  });

  it("is admin for everything only an admin's role may do, except scraping (metrics); no action is left without a scope", () => {
    for (const action of ALL_ACTIONS) {
      const someoneElseMay = (["teacher", "tenant"] as const).some((r) => can(actor(r), action, { ownerId: `${r}-1`, teacherIds: [`${r}-1`], classRules: null }));
      if (!someoneElseMay && ACTIONS[action] === "global") expect(scopeFor(action), action).toBe(action === "metrics.scrape" ? "metrics" : "admin");
      expect(["read", "vms", "admin", "metrics"]).toContain(scopeFor(action));
    }
  });

  it("a metrics token scrapes and does nothing else; an admin-scoped token without metrics cannot scrape", () => {
    const scraper = actor("admin", ["read", "metrics"]);
    expect(can(scraper, "metrics.scrape")).toBe(true);
    expect(can(scraper, "host.list")).toBe(false);
    expect(can(scraper, "user.manage")).toBe(false);
    expect(can(actor("admin", ["read", "vms", "admin"]), "metrics.scrape")).toBe(false);
    expect(can(actor("tenant", ["read", "metrics"]), "metrics.scrape")).toBe(false);
  });
});

describe("tokens within their scopes", () => {
  it("a read token reads but may not act on its own VM (403, not 404) nor administer", () => {
    const reader = actor("admin", ["read"]);
    expect(can(reader, "vm.read", own(reader))).toBe(true);
    expect(can(reader, "vm.list")).toBe(true);
    expect(codeOf(() => authorize(reader, "vm.start", own(reader)))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(reader, "user.manage"))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(reader, "user.list"))).toBe("FORBIDDEN");
    expect(() => authorize(reader, "vm.start", own(reader))).toThrow(/lacks the "vms" scope/);
  });

  it("a foreign VM stays NOT_FOUND whatever the token's scopes", () => {
    const tenant = actor("tenant", ["read"]);
    expect(codeOf(() => authorize(tenant, "vm.start", { ownerId: "someone-else" }))).toBe("NOT_FOUND");
  });

  it("a vms token acts on VMs but does not administer", () => {
    const ops = actor("admin", ["read", "vms"]);
    expect(can(ops, "vm.poweroff", own(ops))).toBe(true);
    expect(can(ops, "vm.create")).toBe(true);
    expect(can(ops, "user.manage")).toBe(false);
    expect(can(ops, "host.list")).toBe(false);
  });

  it("an admin-scoped token of a user who is no longer admin gets nothing from the scope", () => {
    const demoted = actor("tenant", ["read", "vms", "admin"]);
    expect(can(demoted, "user.manage")).toBe(false);
    expect(codeOf(() => authorize(demoted, "user.manage"))).toBe("FORBIDDEN");
  });

  it("sessions (no scopes) are decided by role alone, exactly as before", () => {
    for (const role of ["admin", "teacher", "tenant"] as Role[]) {
      for (const action of ALL_ACTIONS) {
        const session = actor(role);
        const fullToken = actor(role, [...roleScopes(role)]);
        const target = ACTIONS[action] === "global" ? undefined : own(session);
        expect(can(fullToken, action, target), `${role} ${action}`).toBe(can(session, action, target));
      }
    }
  });
});

describe("procedures", () => {
  it("need read for queries and subscriptions, vms for mutations, unless they declare a scope", () => {
    expect(procedureScope("query")).toBe("read");
    expect(procedureScope("subscription")).toBe("read");
    expect(procedureScope("mutation")).toBe("vms");
    expect(procedureScope("mutation", "read")).toBe("read");
    expect(procedureScope("query", "admin")).toBe("admin");
  });
});

describe("minting tokens", () => {
  it("a session gets what its role allows by default, and never more", () => {
    expect(scopesForNewToken(actor("tenant"))).toEqual(["read", "vms"]);
    expect(scopesForNewToken(actor("admin"))).toEqual(["read", "vms", "admin", "metrics"]);
    expect(scopesForNewToken(actor("admin"), ["metrics"])).toEqual(["read", "metrics"]);
    expect(codeOf(() => scopesForNewToken(actor("tenant"), ["metrics"]))).toBe("FORBIDDEN");
    expect(codeOf(() => scopesForNewToken(actor("teacher"), ["admin"]))).toBe("FORBIDDEN");
  });

  it("a token mints at most its own scopes; read is always included; order is canonical", () => {
    const reader = actor("admin", ["read"]);
    expect(scopesForNewToken(reader)).toEqual(["read"]);
    expect(codeOf(() => scopesForNewToken(reader, ["vms"]))).toBe("FORBIDDEN");
    expect(codeOf(() => scopesForNewToken(reader, ["read", "admin"]))).toBe("FORBIDDEN");
    const ops = actor("admin", ["vms", "read"]);
    expect(scopesForNewToken(ops, ["vms"])).toEqual(["read", "vms"]);
    expect(scopesForNewToken(ops, ["read", "read"])).toEqual(["read"]);
  });
});
