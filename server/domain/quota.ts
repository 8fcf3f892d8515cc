/**
 * Quota arithmetic (pure). services/quota-service.ts applies it under a row lock on the ledger row, in
 * the same transaction that inserts or removes the VM, so concurrent requests cannot overshoot a limit.
 */
export const QUOTA_RESOURCES = ["vms", "vcpus", "memoryMiB", "diskGiB"] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];
export type ResourceAmounts = Record<QuotaResource, number>;

export interface QuotaExcess {
  resource: QuotaResource;
  limit: number;
  used: number;
  requested: number;
}

const LABEL: Record<QuotaResource, string> = {
  vms: "VM count",
  vcpus: "vCPUs",
  memoryMiB: "memory (MiB)",
  diskGiB: "disk (GiB)",
};

/** What one VM of this size costs. */
export function vmCost(spec: { vcpus: number; memoryMiB: number; diskGiB: number }): ResourceAmounts {
  return { vms: 1, vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, diskGiB: spec.diskGiB };
}

/** Every limit that `used + requested` would exceed; empty when the request fits. */
export function quotaExcesses(limits: ResourceAmounts, used: ResourceAmounts, requested: ResourceAmounts): QuotaExcess[] {
  // A request that asks for none of a resource (or gives some back: a resize) never exceeds it, even
  // where usage is above a limit an admin lowered since.
  return QUOTA_RESOURCES.filter((r) => requested[r] > 0 && used[r] + requested[r] > limits[r]).map((resource) => ({
    resource,
    limit: limits[resource],
    used: used[resource],
    requested: requested[resource],
  }));
}

export function describeExcess(e: QuotaExcess): string {
  return describeLedgerExcess("quota", e);
}

/** "<ledger> exceeded: VM count limit 10, in use 6, requested 5 (4 left)". */
export function describeLedgerExcess(ledger: string, e: QuotaExcess): string {
  const free = Math.max(0, e.limit - e.used);
  return `${ledger} exceeded: ${LABEL[e.resource]} limit ${e.limit}, in use ${e.used}, requested ${e.requested} (${free} left)`;
}

export function addAmounts(a: ResourceAmounts, b: ResourceAmounts): ResourceAmounts {
  return { vms: a.vms + b.vms, vcpus: a.vcpus + b.vcpus, memoryMiB: a.memoryMiB + b.memoryMiB, diskGiB: a.diskGiB + b.diskGiB };
}

/** Subtracts, never going below zero (a release can never make usage negative). */
export function subtractAmounts(a: ResourceAmounts, b: ResourceAmounts): ResourceAmounts {
  return {
    vms: Math.max(0, a.vms - b.vms),
    vcpus: Math.max(0, a.vcpus - b.vcpus),
    memoryMiB: Math.max(0, a.memoryMiB - b.memoryMiB),
    diskGiB: Math.max(0, a.diskGiB - b.diskGiB),
  };
}

export function sumCosts(specs: Array<{ vcpus: number; memoryMiB: number; diskGiB: number }>): ResourceAmounts {
  return specs.map(vmCost).reduce(addAmounts, { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
}

export function sameAmounts(a: ResourceAmounts, b: ResourceAmounts): boolean {
  return QUOTA_RESOURCES.every((r) => a[r] === b[r]);
}

export const ZERO_AMOUNTS: ResourceAmounts = { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 };

/** Per resource `to - from`: what changing a reservation from `from` to `to` adds (negative: releases). */
export function amountsDelta(from: ResourceAmounts, to: ResourceAmounts): ResourceAmounts {
  return { vms: to.vms - from.vms, vcpus: to.vcpus - from.vcpus, memoryMiB: to.memoryMiB - from.memoryMiB, diskGiB: to.diskGiB - from.diskGiB };
}

export interface LedgerChange {
  /** Limits a growing resource would exceed (a shrinking one never exceeds, even when already over). */
  excesses: QuotaExcess[];
  /** The ledger's usage after the change (never below zero). */
  usedAfter: ResourceAmounts;
}

/**
 * A teaching-quota ledger moving by `delta` (class budgets: a new class adds its budget, a raise its
 * increase, a decrease or expiry releases). Only resources that grow are checked against the limits, so a
 * budget change that raises VMs while lowering memory is judged on VMs alone; `unbounded` (admins)
 * records usage without checking.
 */
export function applyLedgerDelta(limits: ResourceAmounts, used: ResourceAmounts, delta: ResourceAmounts, unbounded = false): LedgerChange {
  const growth = { vms: Math.max(0, delta.vms), vcpus: Math.max(0, delta.vcpus), memoryMiB: Math.max(0, delta.memoryMiB), diskGiB: Math.max(0, delta.diskGiB) };
  const excesses = unbounded ? [] : quotaExcesses(limits, used, growth).filter((e) => e.requested > 0);
  const usedAfter = {
    vms: Math.max(0, used.vms + delta.vms),
    vcpus: Math.max(0, used.vcpus + delta.vcpus),
    memoryMiB: Math.max(0, used.memoryMiB + delta.memoryMiB),
    diskGiB: Math.max(0, used.diskGiB + delta.diskGiB),
  };
  return { excesses, usedAfter };
}

/** Resources whose class usage would exceed a new class budget (a budget cannot shrink below its VMs). */
export function budgetBelowUsage(budget: ResourceAmounts, classUsed: ResourceAmounts): QuotaResource[] {
  return QUOTA_RESOURCES.filter((r) => budget[r] < classUsed[r]);
}

export function resourceLabel(r: QuotaResource): string {
  return LABEL[r];
}

/** A ledger row whose recorded usage differs from what its holders actually take (the reconciler's finding). */
export interface QuotaDrift {
  userId: string;
  recorded: ResourceAmounts;
  actual: ResourceAmounts;
}

/** Pure: which users' recorded usage differs from the sum of their quota-holding VMs. */
export function diffQuotaUsage(
  recorded: Array<{ userId: string; used: ResourceAmounts }>,
  holdingVms: Array<{ ownerId: string; vcpus: number; memoryMiB: number; diskGiB: number }>,
): QuotaDrift[] {
  const byOwner = new Map<string, typeof holdingVms>();
  for (const vm of holdingVms) byOwner.set(vm.ownerId, [...(byOwner.get(vm.ownerId) ?? []), vm]);
  return recorded
    .map((r) => ({ userId: r.userId, recorded: r.used, actual: sumCosts(byOwner.get(r.userId) ?? []) }))
    .filter((d) => !sameAmounts(d.recorded, d.actual));
}

/** Pure: which teachers' recorded teaching usage differs from the sum of their live classes' budgets. */
export function diffTeachingUsage(recorded: Array<{ userId: string; used: ResourceAmounts }>, liveBudgets: Array<{ ownerId: string; budget: ResourceAmounts }>): QuotaDrift[] {
  const byOwner = new Map<string, ResourceAmounts>();
  for (const c of liveBudgets) byOwner.set(c.ownerId, addAmounts(byOwner.get(c.ownerId) ?? ZERO_AMOUNTS, c.budget));
  return recorded
    .map((r) => ({ userId: r.userId, recorded: r.used, actual: byOwner.get(r.userId) ?? ZERO_AMOUNTS }))
    .filter((d) => !sameAmounts(d.recorded, d.actual));
}

/** The images quota: private images and uploads in progress, in bytes of file, against a limit in GiB. */
export interface ImagesQuotaExcess {
  limitGiB: number;
  usedBytes: number;
  requestedBytes: number;
}

/** Bytes still free under an images limit (never negative). */
export function imagesRoomBytes(limitGiB: number, usedBytes: number): number {
  return Math.max(0, limitGiB * 1024 ** 3 - usedBytes);
}

/** The excess when `requestedBytes` more would not fit, null when they do. */
export function imagesQuotaExcess(limitGiB: number, usedBytes: number, requestedBytes: number): ImagesQuotaExcess | null {
  return requestedBytes > imagesRoomBytes(limitGiB, usedBytes) ? { limitGiB, usedBytes, requestedBytes } : null;
}

export function describeImagesExcess(e: ImagesQuotaExcess): string {
  const mib = (b: number) => `${Math.ceil(b / 1024 ** 2)} MiB`;
  return `images quota exceeded: limit ${e.limitGiB} GiB, in use ${mib(e.usedBytes)}, requested ${mib(e.requestedBytes)} (${mib(imagesRoomBytes(e.limitGiB, e.usedBytes))} left)`;
}
