/**
 * The load balancer (leader only, once per metrics interval): for every enabled policy
 * (domain/load-balance), the group's hosts whose guest load stayed above the threshold for the
 * window each give up the VM that relieves them most, live-migrated where placement prefers among
 * the hosts it fits on. Rest: a host that gave up a VM, a host that took one and the VM moved are left
 * alone for the cooldown, read back from the migrate operations the balancer queued (params.reason
 * "balance"), so a restart or a leader change does not forget them. Every move is audited
 * (`vm.rebalance`) and is an ordinary migrate operation on the VM's page.
 */
import type { Db } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import { fleetState } from "../domain/host-state.ts";
import { guestLoadSeries, hostShare, inGroup, moveCandidates, overloaded, type LoadBalancePolicy, type VmLoad } from "../domain/load-balance.ts";
import { log as rootLog } from "../log.ts";
import { audit } from "../services/audit-service.ts";
import { loadBalancePolicies } from "../services/load-balance-service.ts";
import { migrationVmSelect, queueMigrationBy } from "../services/migration-service.ts";
import type { Clock } from "./clock.ts";

const log = rootLog.child({ job: "load-balancer" });
const SYSTEM = { actorId: null, actorName: "load balancer", ip: null };
export const BALANCE_REASON = "balance";

export class LoadBalancer {
  private busy = false;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  /** One round over every enabled policy; returns the moves queued. */
  async tick(): Promise<Array<{ vmId: string; from: string; to: string }>> {
    if (this.busy) return [];
    this.busy = true;
    try {
      const moves = [];
      for (const policy of await loadBalancePolicies(this.db)) if (policy.enabled) moves.push(...(await this.balance(policy)));
      return moves;
    } finally {
      this.busy = false;
    }
  }

  private async balance(policy: LoadBalancePolicy): Promise<Array<{ vmId: string; from: string; to: string }>> {
    const now = this.clock.now();
    const hosts = (
      await this.db.host.findMany({ select: { id: true, name: true, cpus: true, labels: true, enabled: true, maintenance: true, state: true, lastError: true } })
    ).filter((h) => fleetState(h) === "up" && (h.cpus ?? 0) > 0 && inGroup(policy.group, (h.labels ?? {}) as Record<string, string>));
    if (hosts.length < 2) return [];
    const ids = hosts.map((h) => h.id);
    const since = new Date(now.getTime() - policy.windowS * 1000 - 2 * this.intervalMs);
    const [rows, vms, recent] = await Promise.all([
      this.db.vmMetric.findMany({ where: { hostId: { in: ids }, step: { lt: 300 }, at: { gte: since } }, select: { vmId: true, hostId: true, at: true, cpuPct: true } }),
      this.db.vm.findMany({ where: { hostId: { in: ids }, deletedAt: null }, select: { ...migrationVmSelect, targetHostId: true } }),
      this.db.operation.findMany({
        where: { kind: "migrate", createdAt: { gte: new Date(now.getTime() - policy.cooldownS * 1000) }, params: { path: ["reason"], equals: BALANCE_REASON } },
        select: { vmId: true, hostId: true, params: true },
      }),
    ]);
    const resting = new Set<string>();
    for (const op of recent) {
      if (op.vmId) resting.add(op.vmId);
      if (op.hostId) resting.add(op.hostId);
      const dest = (op.params as { destHostId?: unknown }).destHostId;
      if (typeof dest === "string") resting.add(dest);
    }
    const vcpus = new Map(vms.map((v) => [v.id, v.vcpus]));
    const live = rows.filter((r) => vcpus.has(r.vmId));
    const load = new Map(
      hosts.map((h) => {
        const series = guestLoadSeries(
          live.filter((r) => r.hostId === h.id).map((r) => ({ at: r.at, cpuPct: r.cpuPct, vcpus: vcpus.get(r.vmId)! })),
          h.cpus!,
        );
        const values = series.filter((r) => r.at.getTime() > now.getTime() - policy.windowS * 1000).map((r) => r.value ?? 0);
        return [h.id, { series, pct: values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0 }];
      }),
    );
    const moves: Array<{ vmId: string; from: string; to: string }> = [];
    for (const host of [...hosts].sort((a, b) => load.get(b.id)!.pct - load.get(a.id)!.pct)) {
      if (moves.length >= policy.maxMovesPerRound) break;
      if (resting.has(host.id) || !overloaded(load.get(host.id)!.series, policy, now, this.intervalMs / 1000)) continue;
      const mine: VmLoad[] = vms
        .filter((v) => v.hostId === host.id && v.state === "running" && v.activeOperationId === null && v.targetHostId === null && !resting.has(v.id))
        .map((v) => {
          const own = live.filter((r) => r.vmId === v.id && r.at.getTime() > now.getTime() - policy.windowS * 1000);
          return { vmId: v.id, vcpus: v.vcpus, cpuPct: own.length ? own.reduce((a, r) => a + r.cpuPct, 0) / own.length : 0 };
        });
      const destinations = hosts.filter((h) => h.id !== host.id && !resting.has(h.id)).map((h) => ({ id: h.id, cpus: h.cpus!, loadPct: load.get(h.id)!.pct }));
      for (const candidate of moveCandidates({ cpus: host.cpus! }, mine, destinations, policy.cpuAbovePct)) {
        const vm = vms.find((v) => v.id === candidate.vmId)!;
        const share = hostShare(mine.find((m) => m.vmId === vm.id)!, host.cpus!);
        try {
          const { hostId, hostName } = await queueMigrationBy(this.db, vm, { requestedById: null, onlyHostIds: new Set(candidate.destinations), reason: BALANCE_REASON });
          const detail = { from: host.name, to: hostName, group: policy.group, hostLoadPct: Math.round(load.get(host.id)!.pct), vmSharePct: Math.round(share), thresholdPct: policy.cpuAbovePct };
          await audit(this.db, SYSTEM, { action: "vm.rebalance", targetType: "vm", targetId: vm.id, result: "ok", detail });
          log.info({ vmId: vm.id, ...detail }, "load balancing: VM queued to move");
          moves.push({ vmId: vm.id, from: host.id, to: hostId });
          resting.add(host.id).add(hostId).add(vm.id);
          break;
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          log.debug({ vmId: vm.id, reason: err.message }, "load balancing: candidate cannot move");
        }
      }
    }
    return moves;
  }
}
