/**
 * Repairs drift between the database and the hosts, as pure diffs applied by a runner.
 * - Quota usage is recomputed from the VMs that hold quota; differences are fixed and reported (the
 *   diffs are in domain/quota.ts, the ledger SQL in services/quota-service.ts).
 * - Teaching-quota usage is recomputed from the budgets of each teacher's live (unexpired) classes.
 * - Domains of VMs that were deleted (row state "deleted") but still exist on a host are removed
 *   with their disks. Unknown `vmdesk-` domains are reported, never touched: they may belong to
 *   another installation sharing the host.
 * - Strays: a VM's definition left on a host it no longer lives on (an HA restart moved it while
 *   that host was down; the host came back with the old definition) is undefined when it is not
 *   running there, never with its disk (on shared storage it is the VM's own). A running stray
 *   would be a second copy, which the disk leases exist to prevent: it is reported, not touched.
 * - Dedicated pCPUs held by VMs that no longer hold capacity on that host (or whose flavor is no
 *   longer dedicated) are released.
 */
import type { Db } from "../db/client.ts";
import type { QuotaDrift } from "../domain/quota.ts";
import type { HostPool } from "../hypervisor/host-pool.ts";
import { log } from "../log.ts";
import { audit } from "../services/audit-service.ts";
import { recountLedgers } from "../services/quota-service.ts";
import { releaseStaleCpuAllocations } from "../services/fleet-service.ts";
import { seedVolumeName } from "./vm-layout.ts";

export interface DomainDrift {
  /** Domains whose VM row is deleted: remove them. */
  leftovers: string[];
  /** vmdesk-<uuid> domains with no row at all: report only. */
  unknown: string[];
  /** Definitions of VMs placed on another host, not running here: undefined (disk kept). */
  strays: string[];
  /** Domains running here while their VM is placed on another host: reported only. */
  duplicates: string[];
}

/** vmdesk names domains `vmdesk-<vm uuid>` (see services/vm-service.ts). */
const OUR_DOMAIN_NAME = /^vmdesk-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Pure: compares the domains on a host with the VM rows placed there. */
export function diffDomains(
  hostId: string,
  domains: Array<{ name: string; state: string }>,
  rows: Array<{ domainName: string; state: string; hostId?: string; targetHostId?: string | null }>,
): DomainDrift {
  const byName = new Map(rows.map((r) => [r.domainName, r]));
  const ours = domains.filter((d) => OUR_DOMAIN_NAME.test(d.name));
  const elsewhere = (d: { name: string }) => {
    const row = byName.get(d.name);
    return row !== undefined && row.state !== "deleted" && row.hostId !== undefined && row.hostId !== hostId && row.targetHostId !== hostId;
  };
  const live = (d: { state: string }) => d.state === "running" || d.state === "paused" || d.state === "blocked";
  return {
    leftovers: ours.filter((d) => byName.get(d.name)?.state === "deleted").map((d) => d.name),
    unknown: ours.filter((d) => !byName.has(d.name)).map((d) => d.name),
    strays: ours.filter((d) => elsewhere(d) && !live(d)).map((d) => d.name),
    duplicates: ours.filter((d) => elsewhere(d) && live(d)).map((d) => d.name),
  };
}

/** Recounts the quota, class and teaching ledgers in one transaction (quota-service owns the SQL). */
export async function reconcileQuotas(db: Db): Promise<QuotaDrift[]> {
  return db.$transaction((tx) => recountLedgers(tx));
}

export async function reconcileHostDomains(db: Db, hosts: HostPool): Promise<Record<string, DomainDrift>> {
  const result: Record<string, DomainDrift> = {};
  const rows = await db.host.findMany({ where: { enabled: true }, select: { id: true, name: true, uri: true, poolName: true } });
  await Promise.all(
    rows.map(async (host) => {
      const conn = hosts.get(host);
      try {
        const domains = await conn.listDomains();
        const vms = await db.vm.findMany({ where: { domainName: { in: domains.map((d) => d.name) } }, select: { domainName: true, state: true, activeOperationId: true, hostId: true, targetHostId: true } });
        const drift = diffDomains(
          host.id,
          domains,
          vms.filter((v) => v.activeOperationId === null),
        );
        drift.unknown = drift.unknown.filter((n) => !vms.some((v) => v.domainName === n));
        for (const name of drift.leftovers) {
          await conn.destroyDomain(name);
          await conn.undefineDomain(name);
          await conn.deleteVolume(host.poolName, `${name}.qcow2`).catch(() => undefined);
          await conn.deleteVolume(host.poolName, seedVolumeName({ domainName: name })).catch(() => undefined);
        }
        for (const name of drift.strays) await conn.undefineDomain(name);
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
  const pcpusReleased = await releaseStaleCpuAllocations(db);
  const domainDrift = await reconcileHostDomains(db, hosts);
  const found = quotaDrift.length + pcpusReleased + Object.values(domainDrift).reduce((n, d) => n + d.leftovers.length + d.unknown.length + d.strays.length + d.duplicates.length, 0);
  if (found > 0) {
    log.warn({ quotaDrift, pcpusReleased, domainDrift }, "reconciler found drift (quota, leftover and stray domains repaired; unknown and duplicate domains only reported)");
    await audit(db, { actorId: null, actorName: "reconciler", ip: null }, { action: "system.reconcile", result: "ok", detail: { quotaDrift, pcpusReleased, domainDrift } as unknown as Record<string, unknown> });
  }
  return { quotaDrift, pcpusReleased, domainDrift };
}
