/**
 * Keeps every running VM's serial output in the database (VmSerialLog), bounded and rotated, so the
 * owner can read, follow and download it from any portal process (leader only; services read the rows).
 *
 * Where the bytes come from:
 * - a VM on this machine: virtlogd's `<log file=…>` (vm-layout serialLogPath) already records the
 *   console whoever is attached; it is read from the last offset kept (inode + offset in the row, so a
 *   restart resumes and a new boot's file starts over). When virtlogd rotated the file meanwhile, the
 *   rest of the old one (`.0`) is read first.
 * - a VM on another host: libvirt cannot read a host's file, so the collector holds the VM's console
 *   stream (never forcing: a user's serial console takes it over, and the log resumes after they
 *   leave). Holding it, the collector also sets guestReadyAt on the first output, as the host
 *   monitor's readiness watch (which it keeps out) would have.
 * A guest flooding its console costs at most 2 × cap bytes per VM and one bounded read per pass.
 */
import fs from "node:fs/promises";
import type { Db } from "../db/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { isLocalHostUri } from "../domain/host-uri.ts";
import { appendSerial, readWindow } from "../domain/serial-log.ts";
import type { ConsoleStream } from "../hypervisor/driver.ts";
import type { HostPool } from "../hypervisor/host-pool.ts";
import { log as rootLog } from "../log.ts";
import type { Clock } from "./clock.ts";
import { serialLogPath } from "./vm-layout.ts";

const log = rootLog.child({ job: "serial-log" });
/** A remote console that could not be opened (held by a user, host down) is tried again after this. */
const REMOTE_RETRY_MS = 30_000;
/** A remote guest that stays silent after the console is opened is nudged (a prompt answers a CR). */
const NUDGE_MS = 5_000;
/** Logs of deleted VMs are removed every this many passes. */
const PURGE_EVERY = 60;
const RESTART_MARK = Buffer.from("\r\n[vmdesk: the VM was started again]\r\n");

interface RemoteWatch {
  hostId: string;
  stream: ConsoleStream | null;
  chunks: Buffer[];
  bytes: number;
  ended: boolean;
}

export class SerialLogCollector {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private passes = 0;
  private readonly remote = new Map<string, RemoteWatch>();
  private readonly retryAt = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly hosts: HostPool,
    private readonly clock: Clock,
    private readonly opts: { capBytes: number; intervalMs: number },
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick().catch((err) => log.error({ err }, "serial log pass failed")), this.opts.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const w of this.remote.values()) void w.stream?.close().catch(() => undefined);
    this.remote.clear();
  }

  /** One pass over the running VMs: reads what is new and stores it. One pass at a time. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const vms = await this.db.vm.findMany({
        where: { deletedAt: null, state: { in: ["running", "paused"] } },
        select: { id: true, ownerId: true, domainName: true, guestReadyAt: true, host: { select: { id: true, uri: true } }, serialLog: { select: { sourceKey: true, sourceOffset: true } } },
      });
      const seen = new Set<string>();
      for (const vm of vms) {
        seen.add(vm.id);
        try {
          if (isLocalHostUri(vm.host.uri)) await this.collectLocal(vm);
          else await this.collectRemote(vm);
        } catch (err) {
          log.debug({ err, vmId: vm.id }, "serial log: nothing read");
        }
      }
      for (const [vmId, w] of this.remote) {
        if (seen.has(vmId)) continue;
        await this.flushRemote(vmId, w).catch(() => undefined);
        void w.stream?.close().catch(() => undefined);
        this.remote.delete(vmId);
      }
      if (++this.passes % PURGE_EVERY === 0) await this.db.vmSerialLog.deleteMany({ where: { vm: { deletedAt: { not: null } } } });
    } finally {
      this.busy = false;
    }
  }

  private async collectLocal(vm: { id: string; domainName: string; serialLog: { sourceKey: string | null; sourceOffset: bigint } | null }): Promise<void> {
    const file = serialLogPath(vm.domainName);
    const stat = await fs.stat(file).catch(() => null);
    if (!stat) return;
    const key = `${stat.dev}:${stat.ino}`;
    const last = { key: vm.serialLog?.sourceKey ?? null, offset: Number(vm.serialLog?.sourceOffset ?? 0) };
    const keep = 2 * this.opts.capBytes;
    const chunks: Buffer[] = [];
    if (last.key !== null && last.key !== key) {
      // virtlogd rotated the file (the old one is `.0` now): its unread rest comes first.
      const rotated = await fs.stat(`${file}.0`).catch(() => null);
      if (rotated && `${rotated.dev}:${rotated.ino}` === last.key && rotated.size > last.offset) {
        chunks.push(await readRange(`${file}.0`, Math.max(last.offset, rotated.size - keep), rotated.size));
      } else if (stat.size > 0) chunks.push(RESTART_MARK);
    }
    const w = readWindow({ key, size: stat.size }, last, keep);
    if (w.to > w.from) chunks.push(await readRange(file, w.from, w.to));
    if (chunks.length === 0 && last.key === key) return;
    await this.store(vm.id, Buffer.concat(chunks), { key, offset: w.to });
  }

  /** Appends `chunk` to the VM's log (rotating past the cap) and records how far its source was read. */
  private async store(vmId: string, chunk: Buffer, source: { key: string; offset: number }): Promise<void> {
    await this.db.$transaction(async (tx) => {
      const row = await tx.vmSerialLog.findUnique({ where: { vmId }, select: { current: true, previous: true, end: true } });
      const before = row ? { current: Buffer.from(row.current), previous: Buffer.from(row.previous), end: Number(row.end) } : { current: Buffer.alloc(0), previous: Buffer.alloc(0), end: 0 };
      const next = appendSerial(before, chunk, this.opts.capBytes);
      const data = { current: new Uint8Array(next.current), previous: new Uint8Array(next.previous), end: BigInt(next.end), sourceKey: source.key, sourceOffset: BigInt(source.offset) };
      if (!row) await tx.vmSerialLog.create({ data: { vmId, ...data } });
      // Conditional on the end we read: a second collector (a leader change) cannot interleave.
      else await tx.vmSerialLog.updateMany({ where: { vmId, end: row.end }, data });
    });
  }

  private async collectRemote(vm: { id: string; ownerId: string; domainName: string; guestReadyAt: Date | null; host: { id: string; uri: string } }): Promise<void> {
    let w = this.remote.get(vm.id);
    if (w && (w.ended || w.hostId !== vm.host.id)) {
      await this.flushRemote(vm.id, w);
      this.remote.delete(vm.id);
      this.retryAt.set(vm.id, this.clock.now().getTime() + REMOTE_RETRY_MS);
      w = undefined;
    }
    if (!w) {
      if ((this.retryAt.get(vm.id) ?? 0) > this.clock.now().getTime()) return;
      const watch: RemoteWatch = { hostId: vm.host.id, stream: null, chunks: [], bytes: 0, ended: false };
      this.remote.set(vm.id, watch);
      try {
        watch.stream = await this.hosts.get(vm.host).openConsole(vm.domainName, { force: false });
      } catch (err) {
        this.remote.delete(vm.id);
        this.retryAt.set(vm.id, this.clock.now().getTime() + REMOTE_RETRY_MS);
        throw err;
      }
      let ready = vm.guestReadyAt !== null;
      const nudge = ready ? null : setTimeout(() => void watch.stream?.write(Buffer.from("\r")).catch(() => undefined), NUDGE_MS);
      watch.stream.onData((chunk) => {
        watch.chunks.push(Buffer.from(chunk));
        watch.bytes += chunk.length;
        // Bounded between passes: only the newest 2 × cap bytes can survive the append anyway.
        while (watch.bytes > 2 * this.opts.capBytes && watch.chunks.length > 1) watch.bytes -= watch.chunks.shift()!.length;
        if (!ready) {
          ready = true;
          if (nudge) clearTimeout(nudge);
          void this.markReady(vm).catch(() => undefined);
        }
      });
      watch.stream.onEnd(() => {
        if (nudge) clearTimeout(nudge);
        watch.ended = true;
      });
      return;
    }
    await this.flushRemote(vm.id, w);
  }

  private async flushRemote(vmId: string, w: RemoteWatch): Promise<void> {
    if (w.bytes === 0) return;
    const chunk = Buffer.concat(w.chunks);
    w.chunks = [];
    w.bytes = 0;
    await this.store(vmId, chunk, { key: "console", offset: 0 });
  }

  private async markReady(vm: { id: string; ownerId: string; host: { id: string } }): Promise<void> {
    const { count } = await this.db.vm.updateMany({ where: { id: vm.id, hostId: vm.host.id, guestReadyAt: null, deletedAt: null, state: "running" }, data: { guestReadyAt: this.clock.now() } });
    if (count > 0) await notifyVmChanged(this.db, { vmId: vm.id, ownerId: vm.ownerId });
  }
}

async function readRange(file: string, from: number, to: number): Promise<Buffer> {
  const fh = await fs.open(file, "r");
  try {
    const buf = Buffer.alloc(to - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
