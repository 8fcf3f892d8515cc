/**
 * The libvirt HypervisorDriver: one LibvirtHostConnection per host, on vmdesk's own addon
 * (native/). Each host's blocking libvirt calls run on that host's own native threads, so a slow or
 * dead host cannot stall other hosts, the event loop or the libuv pool (file I/O).
 *
 * Timeouts: every call races `callTimeoutMs`. The native side drops a queued call whose caller has
 * given up, but a call already inside libvirt cannot be interrupted; it keeps its thread until
 * libvirt returns (keepalive or the peer closing ends it). Threads are bounded: at most
 * `maxThreads` per native connection, and at most one open in flight per host, so retrying a host
 * that hangs in virConnectOpen never starts another thread.
 */
import {
  HypervisorError,
  VIR_ERR,
  type DomainJob,
  type DomainRunState,
  type DomainSummary,
  type HostConnectOptions,
  type HostConnection,
  type HostEvent,
  type HostFacts,
  type HostMetricsSample,
  type HypervisorDriver,
  type MigrationTarget,
  type NetworkFacts,
  type SnapshotInfo,
  type StoragePoolFacts,
  type ConsoleStream,
  type VolumeReader,
  type VolumeWriter,
} from "../driver.ts";
import { log as rootLog } from "../../log.ts";
import { libvirtCallDuration } from "../../observability.ts";
import { parseHugepages } from "../xml/capabilities-xml.ts";
import { nwFilterDigest } from "../xml/nwfilter-xml.ts";
import { buildDirPoolXml } from "../xml/pool-xml.ts";
import { buildSnapshotXml, isValidSnapshotName, parseSnapshotXml } from "../xml/snapshot-xml.ts";
import { hasCode, toHypervisorError } from "./errors.ts";
import { nativeLibvirt, type NativeConnection, type NativeEvent } from "./native-binding.ts";

/** virDomainState, by value. https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainState */
const DOMAIN_STATES: readonly DomainRunState[] = [
  "nostate",
  "running",
  "blocked",
  "paused",
  "shutdown",
  "shutoff",
  "crashed",
  "pmsuspended",
];

const SHUTOFF = DOMAIN_STATES.indexOf("shutoff");

/** virDomainXMLFlags: VIR_DOMAIN_XML_INACTIVE. */
const VIR_DOMAIN_XML_INACTIVE = 1 << 1;

/** virDomainSnapshotRevertFlags. https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotRevertFlags */
const VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING = 1 << 0;
const VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED = 1 << 1;

/**
 * `runningWeightDivisor` (VMDESK_RUNNING_WEIGHT_DIVISOR): a started guest's CPU weight is the weight
 * it started with divided by this (never below 2); 1, the default, leaves it alone. Under TCG a booting
 * guest keeps a core busy for seconds, and a QEMU that is starting shares the host's guest cgroup with
 * every guest booting beside it, so a lower weight for started guests makes starts quicker (16
 * sequential starts while the earlier ones boot: 51 s at ¼, 44 s at 1/64). But the started guests then
 * hardly boot until the last start is done: bench:classroom (N = 30) with 1/64 had every VM running
 * after 94.5 s and the first login prompt after 117 s, the last after 176 s; with the weight left alone,
 * 150.5 s, 32 s and 164 s. Students wait for a prompt, not for libvirt's "running", so the default
 * leaves the weight alone; guests stay equal among themselves either way (and the host's own processes
 * are weighed against the guest cgroup as a whole, not against each guest).
 */
export const DEFAULT_RUNNING_WEIGHT_DIVISOR = 1;

/** virDomainMigrateFlags (https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainMigrateFlags). */
const VIR_MIGRATE = {
  LIVE: 1 << 0,
  PEER2PEER: 1 << 1,
  PERSIST_DEST: 1 << 3,
  UNDEFINE_SOURCE: 1 << 4,
  NON_SHARED_INC: 1 << 7,
  CHANGE_PROTECTION: 1 << 8,
  UNSAFE: 1 << 9,
  AUTO_CONVERGE: 1 << 13,
} as const;
/**
 * A host that loses power answers nothing (no FIN, no RST): keepalive is what notices. Two missed
 * probes two seconds apart drop the connection after 4–6 s, and HA calls the host down 3 s later:
 * within 10 s.
 */
const DEFAULT_KEEPALIVE = { intervalS: 2, count: 2 };

export interface LibvirtConnectOptions extends HostConnectOptions {
  /** Native threads per connection, started on demand (default 4). */
  maxThreads?: number;
  /**
   * Reconnect delay: starts at initialMs, doubles per failure up to maxMs (default 500 → 5 000: a
   * host that is back is seen within 5 s; an attempt at a dead host costs one refused or timed-out
   * connect).
   */
  reconnect?: { initialMs: number; maxMs: number };
  /**
   * An open that has not settled after this long is abandoned and a fresh one started (default
   * max(30 s, 3 × callTimeoutMs)). Its thread stays stuck until libvirt gives up, so at most one
   * abandoned open per host exists; while it does, the next open is waited for instead.
   */
  openAbandonMs?: number;
}

type State = "connecting" | "connected" | "backoff" | "closed";

function formatVersion(v: number): string {
  return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1_000) % 1_000}.${v % 1_000}`;
}

/** The `<target><path>` of a pool's XML (libvirt writes it without attributes or CDATA). */
function poolPath(xml: string): string {
  const raw = /<target>[\s\S]*?<path>([^<]*)<\/path>/.exec(xml)?.[1] ?? "";
  return raw.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[e]!);
}

/**
 * A self-healing connection to one libvirt host. Opens at construction; after a lost connection or
 * failed open it retries with exponential backoff, emitting "connected" after every successful
 * (re)connect (consumers relist then) and "disconnected" when an open connection is lost.
 * While an open is in flight calls wait for it within their timeout; while backing off they
 * reject at once with kind "disconnected".
 */
export class LibvirtHostConnection implements HostConnection {
  readonly uri: string;
  private state: State = "connecting";
  private native: NativeConnection | null = null;
  /** The one open in flight, if any; never more than one per host. */
  private opening: Promise<NativeConnection> | null = null;
  private openingNative: NativeConnection | null = null;
  private abandonedNative: NativeConnection | null = null;
  /** Opens whose connection was lost before the open's own result arrived. */
  private readonly lostWhileOpening = new WeakSet<NativeConnection>();
  private readonly log;
  /** Native connections closing in the background (their threads may still be busy). */
  private readonly draining = new Set<NativeConnection>();
  private readonly listeners = new Set<(event: HostEvent) => void>();
  private readonly keepalive: { intervalS: number; count: number };
  private readonly backoff: { initialMs: number; maxMs: number };
  private nextDelayMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private lastError: HypervisorError | null = null;
  /** The native metrics reading in flight, if any (see metricsSample). */
  private metricsReading: Promise<unknown> | null = null;

  constructor(private readonly options: LibvirtConnectOptions) {
    this.uri = options.uri;
    this.log = rootLog.child({ hostUri: options.uri });
    this.keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
    this.backoff = options.reconnect ?? { initialMs: 500, maxMs: 5_000 };
    this.nextDelayMs = this.backoff.initialMs;
    this.open();
  }

  get isConnected(): boolean {
    return this.state === "connected";
  }

  /** Why the last open failed, or the connection was lost; null after a successful connect. */
  get lastConnectError(): HypervisorError | null {
    return this.lastError;
  }

  /** Native threads alive for this host, including connections still closing. For tests and metrics. */
  nativeThreadCount(): number {
    let n = 0;
    for (const c of [this.native, this.openingNative, this.abandonedNative]) n += c?.threadCount() ?? 0;
    for (const c of this.draining) n += c.threadCount();
    return n;
  }

  onEvent(listener: (event: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  hostFacts(): Promise<HostFacts> {
    return this.call("hostFacts", async (c) => {
      const f = await c.hostFacts();
      // Sizes the host has pages of; free counts in a second round trip only then.
      const sizes = parseHugepages(f.capabilitiesXml).filter((p) => p.total > 0);
      const free = sizes.length > 0 ? await c.freePages(sizes.map((p) => p.sizeKiB)) : [];
      return {
        hostname: f.hostname,
        cpus: f.cpus,
        memoryMiB: Math.floor(f.memoryKiB / 1024),
        freeMemoryMiB: Math.floor(f.freeMemoryBytes / 1024 / 1024),
        libvirtVersion: formatVersion(f.libVersion),
        hypervisorVersion: `${f.hvType} ${formatVersion(f.hvVersion)}`,
        hugepages: sizes.map((p, i) => ({ sizeKiB: p.sizeKiB, total: p.total, free: free[i] ?? 0 })),
      };
    });
  }

  metricsSample(): Promise<HostMetricsSample> {
    return this.call("metricsSample", async (c) => {
      // One reading per host at a time, counting readings whose caller timed out but whose native
      // call still runs: a new round would otherwise queue behind it and take a second thread.
      if (this.metricsReading) throw new HypervisorError("timeout", `${this.uri}: metricsSample: the previous reading has not returned yet`);
      const reading = c.metricsSample();
      this.metricsReading = reading;
      void reading.catch(() => undefined).finally(() => {
        if (this.metricsReading === reading) this.metricsReading = null;
      });
      const m = await reading;
      const takenAtMs = Date.now();
      const n = m.node;
      return {
        takenAtMs,
        // Buffers and page cache are given back under pressure: "available" counts them as free.
        node: { cpuBusyNs: n.kernelNs + n.userNs, cpuIdleNs: n.idleNs + n.iowaitNs, memoryTotalKiB: n.memoryTotalKiB, memoryAvailableKiB: n.memoryFreeKiB + n.memoryBuffersKiB + n.memoryCachedKiB },
        domains: m.domains.map((d) => ({
          name: d.name,
          running: DOMAIN_STATES[d.state] === "running" || DOMAIN_STATES[d.state] === "blocked",
          cpuTimeNs: d.cpuTimeNs,
          vcpus: d.vcpus,
          balloonKiB: d.balloonKiB || d.maxMemoryKiB,
          rssKiB: d.rssKiB,
          diskReadBytes: d.rdBytes,
          diskWriteBytes: d.wrBytes,
          diskReadReqs: d.rdReqs,
          diskWriteReqs: d.wrReqs,
          netRxBytes: d.rxBytes,
          netTxBytes: d.txBytes,
          partial: d.partial,
        })),
      };
    });
  }

  listDomains(): Promise<DomainSummary[]> {
    return this.call("listDomains", async (c) =>
      (await c.listDomains()).map((d) => ({ name: d.name, uuid: d.uuid, state: DOMAIN_STATES[d.state] ?? "nostate" })),
    );
  }

  domainState(name: string): Promise<DomainRunState | null> {
    return this.call(`domainState ${name}`, async (c) => {
      try {
        return DOMAIN_STATES[await c.domainState(name)] ?? "nostate";
      } catch (e) {
        if (hasCode(e, VIR_ERR.NO_DOMAIN)) return null;
        throw e;
      }
    });
  }

  domainXml(name: string, opts: { inactive?: boolean } = {}): Promise<string> {
    return this.call(`domainXml ${name}`, (c) => c.domainXml(name, opts.inactive ? VIR_DOMAIN_XML_INACTIVE : 0));
  }

  defineDomain(xml: string): Promise<string> {
    return this.call("defineDomain", (c) => c.defineDomain(xml));
  }

  startDomain(name: string): Promise<void> {
    return this.slowCall(`startDomain ${name}`, async (c) => {
      try {
        await c.domainOp(name, "create");
      } catch (e) {
        // "domain is already running" is OPERATION_INVALID; confirm by state, not by message.
        if (!hasCode(e, VIR_ERR.OPERATION_INVALID) || !isActive(await c.domainState(name))) throw e;
        return;
      }
      // Started guests may run at a fraction of the CPU weight a domain starts with, so the one QEMU
      // that is starting outweighs the guests still booting beside it (see DEFAULT_RUNNING_WEIGHT_DIVISOR).
      const divisor = this.options.runningWeightDivisor ?? DEFAULT_RUNNING_WEIGHT_DIVISOR;
      if (divisor <= 1) return;
      try {
        await c.divideLiveCpuShares(name, divisor);
      } catch (e) {
        // Only a scheduling preference: the guest runs either way (it may also have stopped already).
        this.log.warn({ domain: name, err: e instanceof Error ? e.message : String(e) }, "could not lower a started guest's CPU weight");
      }
    });
  }

  shutdownDomain(name: string): Promise<void> {
    return this.call(`shutdownDomain ${name}`, (c) => c.domainOp(name, "shutdown"));
  }

  destroyDomain(name: string): Promise<void> {
    return this.call(`destroyDomain ${name}`, async (c) => {
      try {
        await c.domainOp(name, "destroy");
      } catch (e) {
        if (hasCode(e, VIR_ERR.NO_DOMAIN)) return;
        // "domain is not running" is OPERATION_INVALID; confirm by state.
        if (hasCode(e, VIR_ERR.OPERATION_INVALID) && !isActive(await c.domainState(name).catch(() => SHUTOFF))) return;
        throw e;
      }
    });
  }

  rebootDomain(name: string): Promise<void> {
    return this.slowCall(`rebootDomain ${name}`, (c) => c.domainOp(name, "reboot"));
  }

  suspendDomain(name: string): Promise<void> {
    return this.call(`suspendDomain ${name}`, (c) => c.domainOp(name, "suspend"));
  }

  resumeDomain(name: string): Promise<void> {
    return this.call(`resumeDomain ${name}`, (c) => c.domainOp(name, "resume"));
  }

  undefineDomain(name: string): Promise<void> {
    return this.call(`undefineDomain ${name}`, async (c) => {
      try {
        await c.domainOp(name, "undefine");
      } catch (e) {
        if (!hasCode(e, VIR_ERR.NO_DOMAIN)) throw e;
      }
    });
  }

  ensureDirPool(name: string, path: string): Promise<StoragePoolFacts> {
    const xml = buildDirPoolXml({ name, path });
    return this.call(`ensureDirPool ${name}`, async (c) => {
      const info = await c.ensurePool(name, xml);
      return { name, path: poolPath(info.xml), capacityBytes: info.capacityBytes, availableBytes: info.availableBytes };
    });
  }

  createVolume(pool: string, xml: string): Promise<string> {
    return this.call(`createVolume in ${pool}`, (c) => c.createVolume(pool, xml));
  }

  volumePath(pool: string, name: string): Promise<string | null> {
    return this.call(`volumePath ${pool}/${name}`, async (c) => {
      try {
        return await c.volumePath(pool, name);
      } catch (e) {
        if (hasCode(e, VIR_ERR.NO_STORAGE_VOL)) return null;
        throw e;
      }
    });
  }

  deleteVolume(pool: string, name: string): Promise<void> {
    return this.call(`deleteVolume ${pool}/${name}`, async (c) => {
      try {
        await c.deleteVolume(pool, name);
      } catch (e) {
        if (!hasCode(e, VIR_ERR.NO_STORAGE_VOL)) throw e;
      }
    });
  }

  setDomainResources(name: string, what: "vcpus" | "memoryMiB", value: number, live: boolean): Promise<void> {
    return this.call(`setDomainResources ${name} ${what}=${value}`, (c) =>
      what === "vcpus" ? c.domainResize(name, "vcpus", value, live) : c.domainResize(name, "memory", value * 1024, live),
    );
  }

  growLiveDisk(name: string, bytes: number): Promise<void> {
    return this.call(`growLiveDisk ${name}`, (c) => c.domainResize(name, "disk", bytes, true));
  }

  growVolume(pool: string, name: string, bytes: number): Promise<void> {
    return this.call(`growVolume ${pool}/${name}`, (c) => c.resizeVolume(pool, name, bytes));
  }

  createSnapshot(domain: string, name: string, description?: string): Promise<void> {
    const xml = buildSnapshotXml(description === undefined ? { name } : { name, description });
    return this.slowCall(`createSnapshot ${domain}/${name}`, async (c) => {
      try {
        await c.createSnapshot(domain, xml);
      } catch (e) {
        // libvirt 9.0 reports a duplicate name as the generic OPERATION_FAILED ("domain moment x
        // already exists"), checked before the guest is paused; confirm by lookup, not by message.
        if (!hasCode(e, VIR_ERR.OPERATION_FAILED) || !(await snapshotExists(c, domain, name))) throw e;
      }
    });
  }

  revertSnapshot(domain: string, name: string, opts: { running?: boolean; paused?: boolean } = {}): Promise<void> {
    if (opts.running && opts.paused) return Promise.reject(new Error("revertSnapshot: running and paused are exclusive"));
    const flags = (opts.running ? VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING : 0) | (opts.paused ? VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED : 0);
    return this.slowCall(`revertSnapshot ${domain}/${name}`, (c) => c.revertSnapshot(domain, name, flags));
  }

  deleteSnapshot(domain: string, name: string): Promise<void> {
    return this.call(`deleteSnapshot ${domain}/${name}`, async (c) => {
      try {
        await c.deleteSnapshot(domain, name);
      } catch (e) {
        if (!hasCode(e, VIR_ERR.NO_DOMAIN_SNAPSHOT)) throw e;
      }
    });
  }

  listSnapshots(domain: string): Promise<SnapshotInfo[]> {
    return this.call(`listSnapshots ${domain}`, async (c) =>
      (await c.listSnapshotXmls(domain))
        .map(parseSnapshotXml)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.name.localeCompare(b.name)),
    );
  }

  ensureNetwork(name: string, xml: string): Promise<NetworkFacts> {
    return this.call(`ensureNetwork ${name}`, (c) => c.ensureNetwork(name, xml));
  }

  deleteNetwork(name: string): Promise<void> {
    return this.call(`deleteNetwork ${name}`, async (c) => {
      try {
        await c.deleteNetwork(name);
      } catch (e) {
        if (!hasCode(e, VIR_ERR.NO_NETWORK)) throw e;
      }
    });
  }

  ensureNwFilter(name: string, xml: string): Promise<"defined" | "updated" | "unchanged"> {
    return this.call(`ensureNwFilter ${name}`, async (c) => {
      let current: string | null = null;
      try {
        current = await c.nwFilterXml(name);
      } catch (e) {
        if (!hasCode(e, VIR_ERR.NO_NWFILTER)) throw e;
      }
      if (current !== null && nwFilterDigest(current) === nwFilterDigest(xml)) return "unchanged";
      // Two workers racing here both define the same name and UUID: the second is a redefinition.
      await c.defineNwFilter(xml);
      return current === null ? "defined" : "updated";
    });
  }

  deleteNwFilter(name: string): Promise<void> {
    return this.call(`deleteNwFilter ${name}`, async (c) => {
      try {
        await c.undefineNwFilter(name);
      } catch (e) {
        if (!hasCode(e, VIR_ERR.NO_NWFILTER)) throw e;
      }
    });
  }

  /**
   * Stops reconnecting and closes. Resolves within the call timeout even if the host hangs; a
   * native thread stuck in that host is detached and never delays process exit.
   */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const native = this.native;
    this.native = null;
    const closing = native ? this.closeNative(native) : Promise.resolve();
    // An open still in flight closes its own connection when it settles (see open()).
    await this.withTimeout("close", closing, this.options.callTimeoutMs).catch(() => undefined);
  }

  migrateDomain(name: string, target: MigrationTarget, opts: { storage: "copy" | "shared"; timeoutMs: number }): Promise<void> {
    // Shared: libvirt refuses to leave a disk in place unless it recognises the file system as shared
    // (by magic number: NFS, GFS2, OCFS2, CephFS, …), which a bind mount or an unlisted cluster file
    // system is not; the hosts' declared shared pool is the portal's word for it (disks there use
    // cache='none', which is what libvirt's check wants on a file system it does recognise).
    const flags =
      VIR_MIGRATE.LIVE | VIR_MIGRATE.PEER2PEER | VIR_MIGRATE.PERSIST_DEST | VIR_MIGRATE.UNDEFINE_SOURCE | VIR_MIGRATE.CHANGE_PROTECTION | VIR_MIGRATE.AUTO_CONVERGE |
      (opts.storage === "copy" ? VIR_MIGRATE.NON_SHARED_INC : VIR_MIGRATE.UNSAFE);
    const what = `migrateDomain ${name} → ${target.peerUri}`;
    const migration = this.call(what, (c) => c.migrate(name, target.peerUri, `tcp://${target.address}`, flags), opts.timeoutMs);
    // A migration that outlives its bound keeps a native thread and the guest's state in flight:
    // abort it, so libvirt rolls back and the guest stays here.
    return migration.catch(async (err: unknown) => {
      if (err instanceof HypervisorError && err.kind === "timeout") {
        await this.call(`abortJob ${name}`, (c) => c.abortJob(name)).catch(() => undefined);
      }
      throw err;
    });
  }

  domainJob(name: string): Promise<DomainJob | null> {
    return this.call(`domainJob ${name}`, async (c) => {
      const job = await c.jobInfo(name);
      if (job.type === 0) return null;
      return { elapsedMs: job.elapsedMs, dataTotal: job.dataTotal, dataProcessed: job.dataProcessed, dataRemaining: job.dataRemaining };
    });
  }

  async openVolumeReader(path: string): Promise<VolumeReader> {
    const { native, value } = await this.callPinned(`openVolumeDownload ${path}`, (c) => c.openVolumeDownload(path));
    const stream = this.pinnedStream(native, value.id, `download of ${path}`);
    return { bytes: value.bytes, read: (maxBytes) => stream.call("read", (c) => c.streamRecv(value.id, maxBytes)), abort: stream.abort };
  }

  async openVolumeWriter(pool: string, name: string, bytes: number): Promise<VolumeWriter> {
    const { native, value: id } = await this.callPinned(`openVolumeUpload ${pool}/${name}`, (c) => c.openVolumeUpload(pool, name, bytes));
    const stream = this.pinnedStream(native, id, `upload to ${pool}/${name}`);
    return {
      write: (chunk) => stream.call("write", (c) => c.streamSend(id, chunk)),
      finish: () => stream.call("finish", (c) => c.streamFinish(id), Math.max(60_000, 4 * this.options.callTimeoutMs)),
      abort: stream.abort,
    };
  }

  async openConsole(domain: string, opts: { force: boolean }): Promise<ConsoleStream> {
    const { native, value: id } = await this.callPinned(`openConsole ${domain}`, (c) => c.openConsole(domain, opts.force));
    const entry = this.consoleEntry(native, id);
    const stream = this.pinnedStream(native, id, `console of ${domain}`);
    return {
      onData: (listener) => {
        entry.onData = listener;
        for (const chunk of entry.early.splice(0)) listener(chunk);
        entry.earlyBytes = 0;
      },
      onEnd: (listener) => {
        if (entry.ended !== undefined) listener(entry.ended);
        else entry.onEnd = listener;
      },
      write: (data) => stream.call("write", (c) => c.consoleSend(id, data)),
      // Finished, not aborted, and aborted only when the host does not confirm. Input the host's
      // daemon has not handed to the guest yet is still dropped by libvirt when the stream closes
      // (measured: a line written and closed at once never reaches the guest).
      close: async () => {
        this.consoles.delete(consoleKey(this.nativeId(native), id));
        if (entry.ended !== undefined) return stream.abort();
        await stream.call("finish", (c) => c.streamFinish(id), CONSOLE_FINISH_MS).catch(() => stream.abort());
      },
    };
  }

  /** Console streams by native connection and id; output that arrives before its listener is kept (bounded). */
  private readonly consoles = new Map<string, ConsoleEntry>();
  private readonly nativeIds = new WeakMap<NativeConnection, number>();
  private nextNativeId = 1;

  private consoleEntry(native: NativeConnection, id: number): ConsoleEntry {
    const key = consoleKey(this.nativeId(native), id);
    let entry = this.consoles.get(key);
    if (!entry) this.consoles.set(key, (entry = { native, early: [], earlyBytes: 0 }));
    return entry;
  }

  private nativeId(native: NativeConnection): number {
    let id = this.nativeIds.get(native);
    if (id === undefined) this.nativeIds.set(native, (id = this.nextNativeId++));
    return id;
  }

  private onConsoleEvent(native: NativeConnection, event: Extract<NativeEvent, { type: "stream" }>): void {
    const entry = this.consoleEntry(native, event.id);
    if (event.data) {
      if (entry.onData) entry.onData(event.data);
      else if (entry.earlyBytes < CONSOLE_EARLY_MAX) {
        entry.early.push(event.data);
        entry.earlyBytes += event.data.length;
      }
    }
    if (event.end) this.endConsole(consoleKey(this.nativeId(native), event.id), entry, event.error ?? null);
  }

  private endConsole(key: string, entry: ConsoleEntry, error: string | null): void {
    if (entry.ended !== undefined) return;
    entry.ended = error;
    this.consoles.delete(key);
    entry.onEnd?.(error);
  }

  /** A call that also returns the native connection it ran on (streams live on that one only). */
  private callPinned<T>(what: string, fn: (c: WrappedConnection) => Promise<T>): Promise<{ native: NativeConnection; value: T }> {
    return this.call(what, async (c) => ({ native: this.native!, value: await fn(c) }));
  }

  /** Calls on one stream: on the connection that opened it, each under the call timeout. */
  private pinnedStream(native: NativeConnection, id: number, what: string) {
    const call = <T>(step: string, fn: (c: WrappedConnection) => Promise<T>, timeoutMs = this.options.callTimeoutMs): Promise<T> => {
      if (this.native !== native) return Promise.reject(new HypervisorError("disconnected", `${this.uri}: ${what}: the connection was re-opened`));
      const c = wrap(native, (e) => toHypervisorError(e, `${this.uri}: ${what}: ${step}`, this.native !== native));
      return this.withTimeout(`${what}: ${step}`, fn(c), timeoutMs);
    };
    const abort = () => (this.native === native ? this.withTimeout(`${what}: abort`, native.streamAbort(id), this.options.callTimeoutMs).catch(() => undefined) : Promise.resolve());
    return { call, abort };
  }

  /**
   * Runs one host call under the call timeout. The wrapped native promises are converted to
   * HypervisorError with libvirt's code inside `fn`, so idempotency checks see real codes.
   */
  private call<T>(what: string, fn: (c: WrappedConnection) => Promise<T>, timeoutMs = this.options.callTimeoutMs): Promise<T> {
    const run = async () => {
      const native = await this.ready(what);
      return fn(wrap(native, (e) => toHypervisorError(e, `${this.uri}: ${what}`, this.native !== native)));
    };
    const end = libvirtCallDuration.startTimer({ host: this.uri.split("?", 1)[0], call: what.split(" ", 1)[0] });
    return this.withTimeout(what, run(), timeoutMs).then(
      (v) => {
        end({ outcome: "ok" });
        return v;
      },
      (err: unknown) => {
        end({ outcome: err instanceof HypervisorError && err.kind === "timeout" ? "timeout" : "error" });
        throw err;
      },
    );
  }

  /**
   * Calls that make QEMU do real work (start a guest, take or revert a snapshot with RAM state) take
   * seconds on a loaded host; they get a longer bound than the quick calls, still finite.
   */
  private slowCall<T>(what: string, fn: (c: WrappedConnection) => Promise<T>): Promise<T> {
    return this.call(what, fn, Math.max(60_000, 4 * this.options.callTimeoutMs));
  }

  private withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HypervisorError("timeout", `${this.uri}: ${what} timed out after ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private ready(what: string): Promise<NativeConnection> {
    if (this.state === "connected" && this.native) return Promise.resolve(this.native);
    if (this.opening) return this.opening;
    const why = this.state === "closed" ? "connection closed" : `not connected${this.lastError ? ` (${this.lastError.message})` : ""}`;
    return Promise.reject(new HypervisorError("disconnected", `${this.uri}: ${what}: ${why}`));
  }

  private open(): void {
    if (this.state === "closed" || this.opening) return;
    this.state = "connecting";
    const native = new (nativeLibvirt().Connection)((event) => this.onNative(native, event), {
      maxThreads: this.options.maxThreads ?? 4,
      callTimeoutMs: this.options.callTimeoutMs,
    });
    this.openingNative = native;
    const abandonMs = this.options.openAbandonMs ?? Math.max(30_000, 3 * this.options.callTimeoutMs);
    const abandonTimer = setTimeout(() => this.abandonOpen(native, abandonMs), abandonMs).unref();
    /** Settles an open we gave up on: drop it, whatever the outcome. */
    const wasAbandoned = () => {
      clearTimeout(abandonTimer);
      if (this.openingNative === native) return false;
      if (this.abandonedNative === native) this.abandonedNative = null;
      void this.closeNative(native);
      return true;
    };
    this.opening = native.open(this.uri, this.keepalive.intervalS, this.keepalive.count).then(
      () => {
        if (wasAbandoned()) throw new HypervisorError("timeout", `${this.uri}: open abandoned`);
        this.opening = this.openingNative = null;
        if (this.state === "closed" || this.lostWhileOpening.has(native)) {
          void this.closeNative(native);
          if (this.state !== "closed") this.scheduleReconnect();
          throw new HypervisorError("disconnected", `${this.uri}: connection lost while opening`);
        }
        this.native = native;
        this.state = "connected";
        this.lastError = null;
        this.nextDelayMs = this.backoff.initialMs;
        this.log.info("libvirt connected");
        this.emit({ type: "connected" });
        return native;
      },
      (e: unknown) => {
        if (wasAbandoned()) throw toHypervisorError(e, `${this.uri}: abandoned open`);
        this.opening = this.openingNative = null;
        void this.closeNative(native);
        this.lastError = toHypervisorError(e, `${this.uri}: open`);
        this.log.debug({ err: this.lastError, retryInMs: this.nextDelayMs }, "libvirt open failed");
        this.scheduleReconnect();
        throw new HypervisorError("disconnected", `${this.uri}: not connected (${this.lastError.message})`);
      },
    );
    this.opening.catch(() => undefined); // callers waiting on it see the rejection; nobody else must
  }

  private abandonOpen(native: NativeConnection, afterMs: number): void {
    if (this.openingNative !== native || this.abandonedNative || this.state === "closed") return;
    this.abandonedNative = native;
    this.opening = this.openingNative = null;
    this.lastError = new HypervisorError("timeout", `${this.uri}: open got no answer within ${afterMs} ms`);
    this.log.warn({ afterMs }, "libvirt open hangs; abandoned it and retrying");
    this.scheduleReconnect();
  }

  private onNative(native: NativeConnection, event: NativeEvent): void {
    if (event.type === "stream") return this.onConsoleEvent(native, event);
    if (native === this.openingNative && event.type === "disconnected") this.lostWhileOpening.add(native);
    if (native !== this.native) return; // not (or no longer) the live connection
    if (event.type === "lifecycle") {
      this.emit(event);
      return;
    }
    this.native = null;
    for (const [key, entry] of this.consoles) if (entry.native === native) this.endConsole(key, entry, `connection lost (${event.reason})`);
    this.lastError = new HypervisorError("disconnected", `${this.uri}: connection lost (${event.reason})`);
    void this.closeNative(native);
    this.log.warn({ reason: event.reason }, "libvirt connection lost");
    this.emit({ type: "disconnected", reason: event.reason });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state === "closed") return;
    this.state = "backoff";
    const delay = this.nextDelayMs;
    this.nextDelayMs = Math.min(this.nextDelayMs * 2, this.backoff.maxMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
    this.retryTimer.unref(); // a host that is down must not keep the process alive
  }

  private async closeNative(native: NativeConnection): Promise<void> {
    this.draining.add(native);
    try {
      await native.close();
    } finally {
      this.draining.delete(native);
    }
  }

  private emit(event: HostEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        // A listener's bug must not break event delivery to the others.
        this.log.error({ err, event }, "host event listener threw");
      }
    }
  }
}

function isActive(state: number): boolean {
  const s = DOMAIN_STATES[state];
  return s !== undefined && s !== "shutoff" && s !== "nostate" && s !== "crashed";
}

async function snapshotExists(c: WrappedConnection, domain: string, name: string): Promise<boolean> {
  if (!isValidSnapshotName(name)) return false;
  try {
    await c.snapshotXml(domain, name);
    return true;
  } catch (e) {
    if (hasCode(e, VIR_ERR.NO_DOMAIN_SNAPSHOT)) return false;
    throw e;
  }
}

/** NativeConnection whose rejections are already HypervisorError. */
type WrappedConnection = Omit<NativeConnection, "open" | "close" | "threadCount">;

/** How long closing a console waits for the host to confirm its input was delivered. */
const CONSOLE_FINISH_MS = 3_000;

/** Console output kept for a stream whose listener is not set yet. */
const CONSOLE_EARLY_MAX = 256 * 1024;

interface ConsoleEntry {
  native: NativeConnection;
  onData?: (chunk: Buffer) => void;
  onEnd?: (error: string | null) => void;
  early: Buffer[];
  earlyBytes: number;
  /** Set once ended: null for a normal end. */
  ended?: string | null;
}

function consoleKey(nativeId: number, id: number): string {
  return `${nativeId}:${id}`;
}

function wrap(native: NativeConnection, convert: (e: unknown) => HypervisorError): WrappedConnection {
  return new Proxy(native, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((e: unknown) => {
          throw convert(e);
        });
    },
  }) as WrappedConnection;
}

export const libvirtDriver: HypervisorDriver = {
  connect: (options: HostConnectOptions) => new LibvirtHostConnection(options),
};
