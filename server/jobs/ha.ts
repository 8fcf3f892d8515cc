/**
 * The HA manager (leader only; a tick every second). For every host that is down (domain/ha:
 * disconnected, and silent for HA_DOWN_AFTER_MS since it was first seen so):
 *
 * - its VMs that were running, paused or stopped become `unknown`, with since when and why: the
 *   guest may run on or not, and nothing can be done to it there (the host monitor records what the
 *   host says again when it is back);
 * - its `ha` VMs that were alive are placed on hosts that share its storage pool, highest priority
 *   first, and an "ha-restart" operation is queued for each (jobs/operations/ha-restart.ts), holding
 *   the destination's capacity like a migration does. One operation per VM at a time (the VM's
 *   activeOperationId), and a failed one is retried only after HA_RETRY_MS.
 *
 * The restart itself can never produce a second copy: the disk leases decide that on the hosts.
 */
import type { Db } from "../db/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { AppError } from "../domain/errors.ts";
import { dueForRestart, HA_DOWN_AFTER_MS, HA_RETRY_MS, hostIsDown, restartOrder, unknownStateMessage } from "../domain/ha.ts";
import { place } from "../domain/placement.ts";
import { sharesPool } from "../domain/shared-storage.ts";
import { log as rootLog } from "../log.ts";
import { audit } from "../services/audit-service.ts";
import { chosenHostOrThrow, loadFleet, lockPlacement } from "../services/fleet-service.ts";
import { enqueueVmOperation } from "../services/operation-service.ts";
import type { Clock } from "./clock.ts";

const log = rootLog.child({ job: "ha" });
const SYSTEM = { actorId: null, actorName: "ha", ip: null };

const haVmSelect = {
  id: true,
  ownerId: true,
  hostId: true,
  ha: true,
  haPriority: true,
  createdAt: true,
  observedState: true,
  activeOperationId: true,
  haRestartAt: true,
  deletedAt: true,
  vcpus: true,
  memoryMiB: true,
  diskGiB: true,
  image: { select: { id: true, name: true, hostId: true, shared: true, path: true } },
} as const;

export interface HaOptions {
  downAfterMs?: number;
  retryMs?: number;
}

export class HaManager {
  private busy = false;
  /** When this process first saw each host disconnected (a new leader starts counting afresh: later, never sooner). */
  private readonly disconnectedSince = new Map<string, Date>();
  /** Hosts already announced down in this outage (one log line per outage). */
  private readonly seenDown = new Set<string>();
  private readonly downAfterMs: number;
  private readonly retryMs: number;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    opts: HaOptions = {},
  ) {
    this.downAfterMs = opts.downAfterMs ?? HA_DOWN_AFTER_MS;
    this.retryMs = opts.retryMs ?? HA_RETRY_MS;
  }

  /** One pass; a pass still running makes the next tick a no-op. */
  async tick(): Promise<void> {
    if (this.busy) {
      log.debug("HA: previous pass still running");
      return;
    }
    this.busy = true;
    try {
      const now = this.clock.now();
      const hosts = await this.db.host.findMany({ where: { enabled: true, state: "disconnected" }, select: { id: true, name: true, enabled: true, state: true, lastSeenAt: true, poolName: true, poolPath: true, poolShared: true } });
      for (const id of this.disconnectedSince.keys()) {
        if (hosts.some((h) => h.id === id)) continue;
        this.disconnectedSince.delete(id);
        this.seenDown.delete(id);
      }
      for (const host of hosts) {
        if (!this.disconnectedSince.has(host.id)) {
          this.disconnectedSince.set(host.id, now);
          log.debug({ host: host.name, lastSeenAt: host.lastSeenAt }, "HA: a host is disconnected");
        }
        const down = hostIsDown(host, this.disconnectedSince.get(host.id)!, now, this.downAfterMs);
        if (!down) continue;
        // Logged once per outage, not on every one-second pass.
        if (!this.seenDown.has(host.id)) {
          this.seenDown.add(host.id);
          log.info({ host: host.name, lastSeenAt: host.lastSeenAt, disconnectedSince: this.disconnectedSince.get(host.id) }, "HA: host is down");
        }
        await this.hostDown(host, now).catch((err: unknown) => log.error({ err, host: host.name }, "HA pass for a down host failed"));
      }
    } finally {
      this.busy = false;
    }
  }

  private async hostDown(host: { id: string; name: string; lastSeenAt: Date | null; poolName: string; poolPath: string; poolShared: boolean }, now: Date): Promise<void> {
    const stale = await this.db.vm.findMany({
      where: { hostId: host.id, deletedAt: null, activeOperationId: null, state: { in: ["running", "paused", "stopped"] } },
      select: { id: true, ownerId: true, state: true },
    });
    for (const vm of stale) {
      const { count } = await this.db.vm.updateMany({
        where: { id: vm.id, hostId: host.id, state: vm.state, activeOperationId: null },
        data: { state: "unknown", stateMessage: unknownStateMessage(host.name, host.lastSeenAt) },
      });
      if (count > 0) await notifyVmChanged(this.db, { vmId: vm.id, ownerId: vm.ownerId });
    }
    if (stale.length > 0) log.warn({ host: host.name, vms: stale.length }, "host down: its VMs' state is unknown");

    const candidates = await this.db.vm.findMany({ where: { hostId: host.id, ha: true, deletedAt: null, activeOperationId: null }, select: haVmSelect });
    const due = restartOrder(candidates.filter((vm) => dueForRestart(vm, now, this.retryMs)));
    if (due.length === 0) return;
    const others = await this.db.host.findMany({ where: { id: { not: host.id } }, select: { id: true, poolName: true, poolPath: true, poolShared: true } });
    // Only a host that reads the VM's disk at the same path can start it.
    const unreachable = new Set([host.id, ...others.filter((h) => !sharesPool(host, h)).map((h) => h.id)]);
    for (const vm of due) await this.queueRestart(host, vm, unreachable, now);
  }

  private async queueRestart(
    host: { id: string; name: string },
    vm: { id: string; ownerId: string; vcpus: number; memoryMiB: number; diskGiB: number; haPriority: number; image: { id: string; name: string; hostId: string; shared: boolean; path: string } | null },
    unreachable: ReadonlySet<string>,
    now: Date,
  ): Promise<void> {
    try {
      const { hostName } = await this.db.$transaction(async (tx) => {
        if (!vm.image) throw new AppError("WRONG_STATE", "its image is no longer in the library");
        await lockPlacement(tx);
        const fleet = await loadFleet(tx, vm.image, { sameImagePathAs: host.id });
        const chosen = chosenHostOrThrow(place(fleet.hosts, { vcpus: vm.vcpus, memoryMiB: vm.memoryMiB, diskGiB: 0, image: fleet.image, excludeHostIds: unreachable }));
        await enqueueVmOperation(tx, { vmId: vm.id, hostId: host.id, kind: "ha-restart", params: { destHostId: chosen.hostId }, requestedById: null });
        await tx.vm.update({
          where: { id: vm.id },
          data: { targetHostId: chosen.hostId, haRestartAt: now, stateMessage: `host ${host.name} is down: restarting on ${chosen.hostName} (HA)` },
        });
        await audit(tx, SYSTEM, { action: "vm.ha_restart", targetType: "vm", targetId: vm.id, result: "ok", detail: { queued: true, from: host.name, to: chosen.hostName, priority: vm.haPriority } });
        return chosen;
      });
      log.warn({ vmId: vm.id, from: host.name, to: hostName }, "HA restart queued");
    } catch (err) {
      // Another operation took the VM meanwhile: the next pass looks again.
      if (err instanceof AppError && err.code === "CONFLICT" && /another operation/.test(err.message)) return;
      const reason = err instanceof Error ? err.message : String(err);
      await this.db.vm.updateMany({ where: { id: vm.id, activeOperationId: null }, data: { haRestartAt: now, haError: `no host can take it: ${reason}`, stateMessage: `HA restart failed: no host can take it: ${reason}` } });
      await audit(this.db, SYSTEM, { action: "vm.ha_restart", targetType: "vm", targetId: vm.id, result: "error", detail: { from: host.name, reason } });
      await notifyVmChanged(this.db, { vmId: vm.id, ownerId: vm.ownerId });
      log.error({ vmId: vm.id, reason }, "HA restart could not be placed");
    }
  }
}
