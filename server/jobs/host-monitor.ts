/**
 * Keeps VM and host state honest: libvirt lifecycle events trigger an immediate re-read of the domain,
 * and a periodic full relist per host catches anything events missed (and runs after every
 * reconnect). Hosts are polled independently, so a slow or dead host never delays the others.
 */
import fs from "node:fs/promises";
import type { Db } from "../db/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { nextState, type VmState } from "../domain/vm-state.ts";
import type { DomainRunState, HostConnection } from "../hypervisor/driver.ts";
import type { HostPool } from "../hypervisor/host-pool.ts";
import { log } from "../log.ts";
import type { Clock } from "./clock.ts";
import { serialLogPath } from "./vm-layout.ts";

const HOST_FACTS_EVERY_MS = 30_000;

interface HostRow {
  id: string;
  name: string;
  uri: string;
  poolName: string;
  poolPath: string;
}

/** Serial logs are files on the host; we can read them only when the host is this machine. */
export function isLocalUri(uri: string): boolean {
  return /^qemu(\+unix)?:\/\/\/(system|session)/.test(uri);
}

/** How long a remote guest's console is watched for its first output, and when it is nudged. */
const READINESS_WATCH_MS = 120_000;
const READINESS_NUDGE_MS = 5_000;

export class HostMonitor {
  private timer: NodeJS.Timeout | null = null;
  private readonly busy = new Set<string>();
  private readonly subscribed = new Map<string, { conn: HostConnection; off: () => void }>();
  private readonly lastFacts = new Map<string, number>();
  /** Problems a connected host has with itself (its storage pool), by host id: shown as `degraded`. */
  private readonly hostProblems = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly hosts: HostPool,
    private readonly clock: Clock,
    private readonly relistMs: number,
  ) {}

  start(): void {
    if (this.timer) return;
    const tick = () => void this.tick().catch((err) => log.error({ err }, "host monitor tick failed"));
    this.timer = setInterval(tick, this.relistMs);
    tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const s of this.subscribed.values()) s.off();
    this.subscribed.clear();
  }

  /** Starts a relist of every enabled host that is not already being relisted. Does not wait for them. */
  async tick(): Promise<void> {
    const hosts = await this.db.host.findMany({ where: { enabled: true }, select: { id: true, name: true, uri: true, poolName: true, poolPath: true } });
    for (const host of hosts) {
      this.subscribe(host);
      if (this.busy.has(host.id)) continue;
      this.busy.add(host.id);
      void this.relist(host).finally(() => this.busy.delete(host.id));
    }
  }

  private subscribe(host: HostRow): void {
    const conn = this.hosts.get(host);
    const current = this.subscribed.get(host.id);
    if (current?.conn === conn) return;
    current?.off();
    const off = conn.onEvent((event) => {
      if (event.type === "lifecycle") void this.refreshDomain(host, event.domainName).catch(() => undefined);
      else if (event.type === "connected") {
        this.lastFacts.delete(host.id);
        void this.relist(host).catch(() => undefined);
      } else void this.markHost(host.id, "disconnected", event.reason);
    });
    this.subscribed.set(host.id, { conn, off });
  }

  /**
   * A connected host keeps reporting the last problem it has with itself (its storage pool) until
   * the next facts round clears it: that is what makes it `degraded` rather than `up`.
   */
  private async markHost(hostId: string, state: "connected" | "disconnected", error: string | null, facts: Record<string, unknown> = {}): Promise<void> {
    const lastError = error ?? (state === "connected" ? (this.hostProblems.get(hostId) ?? null) : null);
    await this.db.host.update({
      where: { id: hostId },
      data: { state, lastError, ...(state === "connected" ? { lastSeenAt: this.clock.now() } : {}), ...facts },
    });
  }

  /** Connected but not answering in time: `degraded` with the reason, until a relist succeeds. */
  private async markSlow(hostId: string, error: string): Promise<void> {
    await this.db.host.update({ where: { id: hostId }, data: { state: "connected", lastError: `slow to answer: ${error}` } });
  }

  /** Full relist of one host: every VM we think lives there is compared with what libvirt reports. */
  async relist(host: HostRow): Promise<void> {
    const conn = this.hosts.get(host);
    let domains: Map<string, DomainRunState>;
    const observedAt = this.clock.now();
    try {
      domains = new Map((await conn.listDomains()).map((d) => [d.name, d.state]));
      await this.markHost(host.id, "connected", null, await this.facts(host, conn));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // A call that failed on a connection libvirt's keepalive still holds is a slow host (its threads
      // busy starting guests), not a lost one: losing the connection is what says a host is gone
      // (the "disconnected" event). Calling it disconnected here made HA declare the local host down
      // and mark its VMs unknown in the middle of a class provisioning (bench:classroom step log).
      if (conn.isConnected) await this.markSlow(host.id, message).catch(() => undefined);
      else await this.markHost(host.id, "disconnected", message).catch(() => undefined);
      return;
    }
    const vms = await this.db.vm.findMany({
      where: { hostId: host.id, deletedAt: null, state: { not: "deleted" } },
      select: { id: true, ownerId: true, domainName: true, state: true, observedState: true, activeOperationId: true, guestReadyAt: true, targetHostId: true, haError: true },
    });
    for (const vm of vms) {
      await this.apply(host, vm, domains.get(vm.domainName) ?? null, observedAt);
    }
  }

  private async facts(host: HostRow, conn: HostConnection): Promise<Record<string, unknown>> {
    const last = this.lastFacts.get(host.id) ?? 0;
    if (this.clock.now().getTime() - last < HOST_FACTS_EVERY_MS) return {};
    const f = await conn.hostFacts();
    const pool = await conn.ensureDirPool(host.poolName, host.poolPath).catch((err: unknown) => {
      this.hostProblems.set(host.id, `storage pool ${host.poolName} (${host.poolPath}) unusable: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    });
    if (pool) this.hostProblems.delete(host.id);
    this.lastFacts.set(host.id, this.clock.now().getTime());
    return {
      hostname: f.hostname,
      cpus: f.cpus,
      memoryMiB: f.memoryMiB,
      freeMemoryMiB: f.freeMemoryMiB,
      libvirtVersion: f.libvirtVersion,
      hugepages: f.hugepages,
      ...(pool ? { diskFreeGiB: Math.floor(pool.availableBytes / 1024 ** 3), diskTotalGiB: Math.floor(pool.capacityBytes / 1024 ** 3) } : {}),
    };
  }

  /** Re-reads one domain after an event. */
  async refreshDomain(host: HostRow, domainName: string): Promise<void> {
    const vm = await this.db.vm.findUnique({
      where: { domainName },
      select: { id: true, ownerId: true, domainName: true, state: true, observedState: true, activeOperationId: true, guestReadyAt: true, targetHostId: true, haError: true, deletedAt: true, hostId: true },
    });
    // An event from a host the VM does not live on (its old definition removed there after an HA
    // restart or a migration) says nothing about the VM: read here, it would look "missing".
    if (!vm || vm.deletedAt || vm.hostId !== host.id) return;
    const observedAt = this.clock.now();
    const observed = await this.hosts.get(host).domainState(domainName);
    await this.apply(host, vm, observed, observedAt);
  }

  private async apply(
    host: HostRow,
    vm: { id: string; ownerId: string; domainName: string; state: string; observedState: string | null; activeOperationId: string | null; guestReadyAt: Date | null; targetHostId: string | null; haError: string | null },
    observed: DomainRunState | null,
    observedAt: Date,
  ): Promise<void> {
    // A live migration in flight: the source shows the guest paused at the switch-over and then
    // gone, while it runs on, already booted, on the destination. The migrate operation records
    // where it ended up; read here, it would look stopped and "booting" again for a moment.
    if (vm.targetHostId !== null && vm.activeOperationId !== null) return;
    const state = nextState(vm.state as VmState, observed, vm.activeOperationId !== null);
    let guestReadyAt = vm.guestReadyAt;
    if (observed !== "running" && observed !== "blocked") guestReadyAt = null;
    else if (!guestReadyAt && (await this.guestSpoke(host, vm))) guestReadyAt = this.clock.now();
    // Its host answers and says what the guest does: whatever HA tried meanwhile is over (also when
    // a refused restart recorded its failure after the host was already back).
    const haOver = (vm.state === "unknown" && state !== "unknown") || (vm.haError !== null && (observed === "running" || observed === "blocked" || observed === "paused"));
    const changed = haOver || state !== vm.state || observed !== vm.observedState || guestReadyAt?.getTime() !== vm.guestReadyAt?.getTime();
    if (!changed) return;
    // Conditional on the state we read and on no newer observation: an operation that recorded what
    // libvirt said after our list was taken (a power-off finishing while we listed) is never
    // overwritten by our older view.
    const { count } = await this.db.vm.updateMany({
      where: { id: vm.id, hostId: host.id, state: vm.state as VmState, deletedAt: null, OR: [{ observedAt: null }, { observedAt: { lte: observedAt } }] },
      data: {
        state,
        observedState: observed,
        observedAt,
        guestReadyAt,
        ...(state === "missing" ? { stateMessage: "the domain vanished from its host" } : state !== vm.state ? { stateMessage: null } : {}),
        ...(haOver ? { haRestartAt: null, haError: null, haFencingRequired: false } : {}),
      },
    });
    if (count > 0) await notifyVmChanged(this.db, { vmId: vm.id, ownerId: vm.ownerId });
  }

  private async guestSpoke(host: HostRow, vm: { id: string; ownerId: string; domainName: string }): Promise<boolean> {
    if (!isLocalUri(host.uri)) {
      this.watchReadiness(host, vm);
      return false;
    }
    try {
      const stat = await fs.stat(serialLogPath(vm.domainName));
      return stat.size > 0;
    } catch {
      return false;
    }
  }

  /** Domains whose serial console is being watched for the first output, by host id and domain. */
  private readonly readinessWatches = new Set<string>();

  /**
   * A guest on another host: its serial log is out of reach, so the console stream (libvirt) is
   * watched for the guest's first output, without taking it from a user who holds it. A guest that
   * booted before the watch began (the portal restarted, the VM arrived by migration) is nudged with a
   * carriage return, which a login prompt or shell answers. Given up after READINESS_WATCH_MS; the next
   * relist tries again.
   */
  private watchReadiness(host: HostRow, vm: { id: string; ownerId: string; domainName: string }): void {
    const key = `${host.id}/${vm.domainName}`;
    if (this.readinessWatches.has(key)) return;
    this.readinessWatches.add(key);
    const conn = this.hosts.get(host);
    void (async () => {
      const stream = await conn.openConsole(vm.domainName, { force: false });
      await new Promise<void>((resolve) => {
        const giveUp = setTimeout(resolve, READINESS_WATCH_MS);
        const nudge = setTimeout(() => void stream.write(Buffer.from("\r")).catch(() => undefined), READINESS_NUDGE_MS);
        const done = () => {
          clearTimeout(giveUp);
          clearTimeout(nudge);
          resolve();
        };
        stream.onEnd(done);
        stream.onData(() => {
          done();
          void this.markReady(host, vm);
        });
      });
      await stream.close();
    })()
      .catch((err: unknown) => log.debug({ err, vmId: vm.id }, "readiness: console not available"))
      .finally(() => this.readinessWatches.delete(key));
  }

  private async markReady(host: HostRow, vm: { id: string; ownerId: string }): Promise<void> {
    const { count } = await this.db.vm.updateMany({ where: { id: vm.id, hostId: host.id, guestReadyAt: null, deletedAt: null }, data: { guestReadyAt: this.clock.now() } });
    if (count > 0) await notifyVmChanged(this.db, { vmId: vm.id, ownerId: vm.ownerId });
  }

}
