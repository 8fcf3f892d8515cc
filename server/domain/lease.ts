/**
 * Leases of personal VMs (pure). A lease is an expiry per VM: set at create from the owner's role
 * (admin default per role; 0 days = no lease), extended by the owner by whole days up to the role's
 * maximum in total, warned about `warnDays` before it ends, stopped at expiry and deleted `graceDays`
 * after it. Class VMs never have one (their class's expiry governs them).
 */
import { AppError } from "./errors.ts";

export const LEASE_ROLES = ["admin", "teacher", "tenant"] as const;
export type LeaseRole = (typeof LEASE_ROLES)[number];

/** Upper bound of every day count in the policy and of one extension (ten years). */
export const LEASE_MAX_DAYS = 3650;
const DAY_MS = 86_400_000;

export interface RoleLease {
  /** Lease length at create, in days; 0 = VMs of this role get no lease. */
  defaultDays: number;
  /** Days the owner may add over the VM's life, in total; 0 = no extension. */
  maxExtensionDays: number;
}

export interface LeasePolicy {
  roles: Record<LeaseRole, RoleLease>;
  /** The owner is warned this many days before expiry (dashboard, webhook, e-mail). */
  warnDays: number;
  /** A stopped, expired VM is deleted this many days after its expiry. */
  graceDays: number;
}

/** Off until an admin sets a default: nothing expires by surprise after an upgrade. */
export const DEFAULT_LEASE_POLICY: LeasePolicy = {
  roles: {
    admin: { defaultDays: 0, maxExtensionDays: 0 },
    teacher: { defaultDays: 0, maxExtensionDays: 0 },
    tenant: { defaultDays: 0, maxExtensionDays: 0 },
  },
  warnDays: 3,
  graceDays: 7,
};

function days(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= LEASE_MAX_DAYS ? value : fallback;
}

/** A stored policy of any shape, completed field by field with the defaults (never throws). */
export function normalizeLeasePolicy(stored: unknown): LeasePolicy {
  const s = (stored && typeof stored === "object" ? stored : {}) as Partial<Record<keyof LeasePolicy, unknown>>;
  const roles = (s.roles && typeof s.roles === "object" ? s.roles : {}) as Partial<Record<LeaseRole, Partial<RoleLease>>>;
  const out: LeasePolicy = { roles: { ...DEFAULT_LEASE_POLICY.roles }, warnDays: days(s.warnDays, DEFAULT_LEASE_POLICY.warnDays), graceDays: days(s.graceDays, DEFAULT_LEASE_POLICY.graceDays) };
  for (const role of LEASE_ROLES) {
    const d = DEFAULT_LEASE_POLICY.roles[role];
    out.roles[role] = { defaultDays: days(roles[role]?.defaultDays, d.defaultDays), maxExtensionDays: days(roles[role]?.maxExtensionDays, d.maxExtensionDays) };
  }
  return out;
}

/** The expiry of a personal VM created now by an owner of `role`; null when the role has no lease. */
export function initialLeaseExpiry(policy: LeasePolicy, role: LeaseRole, now: Date): Date | null {
  const d = policy.roles[role].defaultDays;
  return d > 0 ? new Date(now.getTime() + d * DAY_MS) : null;
}

/**
 * The lease after the owner adds `addDays`: counted from the current expiry, or from now when it has
 * already passed (a stopped VM in its grace period gets a full extension). CONFLICT (409) when the
 * VM has no lease, or the total added would exceed the role's maximum.
 */
export function extendLease(
  lease: { expiresAt: Date | null; extendedDays: number },
  addDays: number,
  rule: RoleLease,
  now: Date,
): { expiresAt: Date; extendedDays: number } {
  if (!Number.isInteger(addDays) || addDays < 1 || addDays > LEASE_MAX_DAYS) throw new AppError("BAD_REQUEST", `days must be a whole number from 1 to ${LEASE_MAX_DAYS}`, { field: "days" });
  if (!lease.expiresAt) throw new AppError("CONFLICT", "this VM has no lease");
  const total = lease.extendedDays + addDays;
  if (total > rule.maxExtensionDays) {
    const left = Math.max(0, rule.maxExtensionDays - lease.extendedDays);
    throw new AppError("CONFLICT", `the lease may be extended by at most ${rule.maxExtensionDays} days in all; ${left} left`, { maxExtensionDays: rule.maxExtensionDays, extendedDays: lease.extendedDays, left });
  }
  const from = Math.max(lease.expiresAt.getTime(), now.getTime());
  return { expiresAt: new Date(from + addDays * DAY_MS), extendedDays: total };
}

/** When the VM is deleted: `graceDays` after its expiry. */
export function leaseDeleteAt(expiresAt: Date, policy: LeasePolicy): Date {
  return new Date(expiresAt.getTime() + policy.graceDays * DAY_MS);
}

/** Whether the owner should see (and be sent) a warning now: within `warnDays` of expiry, or past it. */
export function leaseWarning(expiresAt: Date | null, now: Date, policy: LeasePolicy): boolean {
  return expiresAt !== null && now.getTime() >= expiresAt.getTime() - policy.warnDays * DAY_MS;
}

export type LeaseStep = "none" | "warn" | "stop" | "delete";

/**
 * What the lease job does to a VM now, at most one step per pass: delete once the grace period is
 * over (whatever its state), stop at expiry while it is still running or paused, warn once per expiry.
 * States an operation owns (provisioning, deleting) and already-deleted VMs are left alone.
 */
export function leaseStep(vm: { expiresAt: Date | null; warnedAt: Date | null; state: string }, now: Date, policy: LeasePolicy): LeaseStep {
  if (!vm.expiresAt || vm.state === "provisioning" || vm.state === "deleting" || vm.state === "deleted") return "none";
  const t = now.getTime();
  if (t >= leaseDeleteAt(vm.expiresAt, policy).getTime()) return "delete";
  if (t >= vm.expiresAt.getTime() && (vm.state === "running" || vm.state === "paused")) return "stop";
  if (vm.warnedAt === null && leaseWarning(vm.expiresAt, now, policy)) return "warn";
  return "none";
}
