import { describe, expect, it } from "vitest";
import { AppError } from "../../../server/domain/errors.ts";
import { DEFAULT_LEASE_POLICY, extendLease, initialLeaseExpiry, LEASE_MAX_DAYS, leaseStep, leaseWarning, normalizeLeasePolicy, type LeasePolicy } from "../../../server/domain/lease.ts";

const DAY = 86_400_000;
const t0 = new Date("2026-12-07T12:00:00Z");
const at = (days: number) => new Date(t0.getTime() + days * DAY);
const policy: LeasePolicy = {
  roles: { admin: { defaultDays: 0, maxExtensionDays: 0 }, teacher: { defaultDays: 60, maxExtensionDays: 60 }, tenant: { defaultDays: 30, maxExtensionDays: 14 } },
  warnDays: 3,
  graceDays: 7,
};

describe("lease policy", () => {
  it("is off by default and completes a stored policy field by field, dropping nonsense", () => {
    expect(initialLeaseExpiry(DEFAULT_LEASE_POLICY, "tenant", t0)).toBeNull();
    const p = normalizeLeasePolicy({ roles: { tenant: { defaultDays: 10, maxExtensionDays: -1 }, teacher: "x" }, warnDays: 1.5, graceDays: LEASE_MAX_DAYS + 1 });
    expect(p.roles.tenant).toEqual({ defaultDays: 10, maxExtensionDays: 0 });
    expect(p.roles.teacher).toEqual(DEFAULT_LEASE_POLICY.roles.teacher);
    expect(p.warnDays).toBe(DEFAULT_LEASE_POLICY.warnDays);
    expect(p.graceDays).toBe(DEFAULT_LEASE_POLICY.graceDays);
    expect(normalizeLeasePolicy(null)).toEqual(DEFAULT_LEASE_POLICY);
  });

  it("sets the role's default at create; 0 days = no lease", () => {
    expect(initialLeaseExpiry(policy, "tenant", t0)).toEqual(at(30));
    expect(initialLeaseExpiry(policy, "admin", t0)).toBeNull();
  });
});

describe("extension", () => {
  const rule = policy.roles.tenant;
  it("adds days to the expiry, up to the maximum in total", () => {
    const once = extendLease({ expiresAt: at(10), extendedDays: 0 }, 10, rule, t0);
    expect(once).toEqual({ expiresAt: at(20), extendedDays: 10 });
    expect(extendLease({ expiresAt: at(20), extendedDays: 10 }, 4, rule, t0)).toEqual({ expiresAt: at(24), extendedDays: 14 });
  });
  it("counts from now once the lease has passed", () => {
    expect(extendLease({ expiresAt: at(-2), extendedDays: 0 }, 5, rule, t0).expiresAt).toEqual(at(5));
  });
  it("refuses past the maximum (409), without a lease (409) and out-of-range days (400)", () => {
    const past = () => extendLease({ expiresAt: at(10), extendedDays: 10 }, 5, rule, t0);
    expect(past).toThrow(AppError);
    expect(past).toThrow(/at most 14 days in all; 4 left/);
    try {
      past();
    } catch (err) {
      expect((err as AppError).code).toBe("CONFLICT");
    }
    expect(() => extendLease({ expiresAt: null, extendedDays: 0 }, 1, rule, t0)).toThrow(/no lease/);
    for (const bad of [0, -1, 1.5, LEASE_MAX_DAYS + 1]) {
      try {
        extendLease({ expiresAt: at(10), extendedDays: 0 }, bad, { defaultDays: 1, maxExtensionDays: LEASE_MAX_DAYS }, t0);
        expect.unreachable();
      } catch (err) {
        expect((err as AppError).code).toBe("BAD_REQUEST");
      }
    }
    expect(() => extendLease({ expiresAt: at(10), extendedDays: 0 }, 1, policy.roles.admin, t0)).toThrow(/at most 0 days/);
  });
});

describe("what the lease job does", () => {
  const vm = (over: Partial<{ expiresAt: Date | null; warnedAt: Date | null; state: string }> = {}) => ({ expiresAt: at(10), warnedAt: null, state: "running", ...over });
  it("nothing before the warning window, then warns once", () => {
    expect(leaseStep(vm(), at(6.9), policy)).toBe("none");
    expect(leaseStep(vm(), at(7), policy)).toBe("warn");
    expect(leaseStep(vm({ warnedAt: at(7) }), at(8), policy)).toBe("none");
    expect(leaseWarning(at(10), at(7), policy)).toBe(true);
    expect(leaseWarning(null, at(7), policy)).toBe(false);
  });
  it("stops a running or paused VM at expiry, leaves a stopped one, deletes after the grace", () => {
    expect(leaseStep(vm({ warnedAt: at(7) }), at(10), policy)).toBe("stop");
    expect(leaseStep(vm({ state: "paused" }), at(10), policy)).toBe("stop");
    expect(leaseStep(vm({ state: "stopped", warnedAt: at(10) }), at(12), policy)).toBe("none");
    expect(leaseStep(vm({ state: "stopped", warnedAt: at(10) }), at(16.99), policy)).toBe("none");
    // A VM stopped by its owner before expiry was never warned: it still is, before its deletion.
    expect(leaseStep(vm({ state: "stopped" }), at(16.99), policy)).toBe("warn");
    expect(leaseStep(vm({ state: "stopped" }), at(17), policy)).toBe("delete");
    expect(leaseStep(vm({ state: "running" }), at(17), policy)).toBe("delete");
  });
  it("never touches VMs without a lease or owned by an operation", () => {
    expect(leaseStep(vm({ expiresAt: null }), at(100), policy)).toBe("none");
    for (const state of ["provisioning", "deleting", "deleted"]) expect(leaseStep(vm({ state }), at(100), policy)).toBe("none");
  });
});
