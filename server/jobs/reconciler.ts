/**
 * Repairs drift between the database and the hosts, as a pure diff (below) applied by a runner.
 * - Quota usage is recomputed from the VMs that hold quota; differences are fixed and reported.
 * - Teaching-quota usage is recomputed from the budgets of each teacher's live (unexpired) classes.
 * - Domains of VMs that were deleted (row state "deleted") but still exist on a host are removed
 *   with their disks. Unknown `vmdesk-` domains are reported, never touched: they may belong to
 *   another installation sharing the host.
 */
import type { Db } from "../db/client.ts";
import { addAmounts, sameAmounts, sumCosts, ZERO_AMOUNTS, type ResourceAmounts } from "../domain/quota.ts";
import { log } from "../log.ts";
import { audit } from "../services/audit-service.ts";
import type { HostPool } from "./host-pool.ts";

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

export interface DomainDrift {
  /** Domains whose VM row is deleted: remove them. */
  leftovers: string[];
  /** vmdesk-<uuid> domains with no row at all: report only. */
  unknown: string[];
}

/** vmdesk names domains `vmdesk-<vm uuid>` (see services/vm-service.ts). */
const OUR_DOMAIN_NAME = /^vmdesk-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Pure: compares the domains on a host with the VM rows placed there. */
export function diffDomains(domainNames: string[], rows: Array<{ domainName: string; state: string }>): DomainDrift {
  const byName = new Map(rows.map((r) => [r.domainName, r.state]));
  const ours = domainNames.filter((n) => OUR_DOMAIN_NAME.test(n));
  return {
    leftovers: ours.filter((n) => byName.get(n) === "deleted"),
    unknown: ours.filter((n) => !byName.has(n)),
  };
}

export async function reconcileQuotas(db: Db): Promise<QuotaDrift[]> {
  return db.$transaction(async (tx) => {
    // Lock every ledger row so no create/delete interleaves with the recount.
    const quotas = await tx.$queryRaw<Array<{ userId: string; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>>`
      SELECT "userId", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB" FROM "Quota" FOR UPDATE`;
    const classes = await tx.$queryRaw<Array<{ id: string; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>>`
      SELECT "id", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB" FROM "Class" FOR UPDATE`;
    const holding = await tx.vm.findMany({ where: { quotaHeld: true }, select: { ownerId: true, classId: true, vcpus: true, memoryMiB: true, diskGiB: true } });
    const amounts = (r: { usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }) => ({ vms: r.usedVms, vcpus: r.usedVcpus, memoryMiB: r.usedMemoryMiB, diskGiB: r.usedDiskGiB });
    // Personal VMs count against their owner's quota; class VMs against their class's budget.
    const userDrift = diffQuotaUsage(
      quotas.map((q) => ({ userId: q.userId, used: amounts(q) })),
      holding.filter((v) => v.classId === null),
    );
    const classDrift = diffQuotaUsage(
      classes.map((c) => ({ userId: c.id, used: amounts(c) })),
      holding.filter((v) => v.classId !== null).map((v) => ({ ...v, ownerId: v.classId! })),
    );
    const data = (d: QuotaDrift) => ({ usedVms: d.actual.vms, usedVcpus: d.actual.vcpus, usedMemoryMiB: d.actual.memoryMiB, usedDiskGiB: d.actual.diskGiB });
    for (const d of userDrift) await tx.quota.update({ where: { userId: d.userId }, data: data(d) });
    for (const d of classDrift) await tx.class.update({ where: { id: d.userId }, data: data(d) });
    // Teaching ledgers (locked after the classes, the order class-service uses): the budgets of each
    // owner's live classes. An owner with classes but no row gets one, so no budget goes unrecorded.
    await tx.$executeRaw`INSERT INTO "TeachingQuota" ("userId", "updatedAt") SELECT DISTINCT "ownerId", now() FROM "Class" WHERE "expiredAt" IS NULL ON CONFLICT DO NOTHING`;
    const ledgers = await tx.$queryRaw<Array<{ userId: string; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>>`
      SELECT "userId", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB" FROM "TeachingQuota" FOR UPDATE`;
    const liveBudgets = await tx.class.findMany({ where: { expiredAt: null }, select: { ownerId: true, maxVms: true, maxVcpus: true, maxMemoryMiB: true, maxDiskGiB: true } });
    const teachingDrift = diffTeachingUsage(
      ledgers.map((l) => ({ userId: l.userId, used: amounts(l) })),
      liveBudgets.map((c) => ({ ownerId: c.ownerId, budget: { vms: c.maxVms, vcpus: c.maxVcpus, memoryMiB: c.maxMemoryMiB, diskGiB: c.maxDiskGiB } })),
    );
    for (const d of teachingDrift) await tx.teachingQuota.update({ where: { userId: d.userId }, data: data(d) });
    return [...userDrift, ...classDrift.map((d) => ({ ...d, userId: `class:${d.userId}` })), ...teachingDrift.map((d) => ({ ...d, userId: `teaching:${d.userId}` }))];
  });
}

export async function reconcileHostDomains(db: Db, hosts: HostPool): Promise<Record<string, DomainDrift>> {
  const result: Record<string, DomainDrift> = {};
  const rows = await db.host.findMany({ where: { enabled: true }, select: { id: true, name: true, uri: true, poolName: true } });
  await Promise.all(
    rows.map(async (host) => {
      const conn = hosts.get(host);
      try {
        const domains = await conn.listDomains();
        const vms = await db.vm.findMany({ where: { domainName: { in: domains.map((d) => d.name) } }, select: { domainName: true, state: true, activeOperationId: true } });
        const drift = diffDomains(
          domains.map((d) => d.name),
          vms.filter((v) => v.activeOperationId === null),
        );
        drift.unknown = drift.unknown.filter((n) => !vms.some((v) => v.domainName === n));
        for (const name of drift.leftovers) {
          await conn.destroyDomain(name);
          await conn.undefineDomain(name);
          await conn.deleteVolume(host.poolName, `${name}.qcow2`).catch(() => undefined);
        }
        result[host.name] = drift;
      } catch (err) {
        log.warn({ host: host.name, err: err instanceof Error ? err.message : err }, "domain reconcile skipped: host unreachable");
      }
    }),
  );
  return result;
}

/** One reconciler pass; reports every drift found in the log and the audit log. */
export async function reconcileOnce(db: Db, hosts: HostPool) {
  const quotaDrift = await reconcileQuotas(db);
  const domainDrift = await reconcileHostDomains(db, hosts);
  const found = quotaDrift.length + Object.values(domainDrift).reduce((n, d) => n + d.leftovers.length + d.unknown.length, 0);
  if (found > 0) {
    log.warn({ quotaDrift, domainDrift }, "reconciler found drift (quota and leftover domains repaired; unknown domains only reported)");
    await audit(db, { actorId: null, actorName: "reconciler", ip: null }, { action: "system.reconcile", result: "ok", detail: { quotaDrift, domainDrift } as unknown as Record<string, unknown> });
  }
  return { quotaDrift, domainDrift };
}
