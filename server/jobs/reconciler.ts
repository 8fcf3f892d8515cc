/**
 * Repairs drift between the database and the hosts, as pure diffs applied by a runner.
 * - Quota usage is recomputed from the VMs that hold quota; differences are fixed and reported (the
 *   diffs are in domain/quota.ts, the ledger SQL in services/quota-service.ts).
 * - Teaching-quota usage is recomputed from the budgets of each teacher's live (unexpired) classes.
 * - Domains of VMs that were deleted (row state "deleted") but still exist on a host are removed
 *   with their disks. Unknown `vmdesk-` domains are reported, never touched: they may belong to
 *   another installation sharing the host.
 */
import type { Db } from "../db/client.ts";
import type { QuotaDrift } from "../domain/quota.ts";
import type { HostPool } from "../hypervisor/host-pool.ts";
import { log } from "../log.ts";
import { audit } from "../services/audit-service.ts";
import { recountLedgers } from "../services/quota-service.ts";

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
