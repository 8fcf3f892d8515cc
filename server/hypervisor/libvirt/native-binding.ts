/**
 * Typed loader for vmdesk's own libvirt addon (native/, built by `npm run build:native`).
 * Every method runs on the Connection's own threads and settles a promise; none blocks Node.
 */
import { createRequire } from "node:module";

/** Rejection of a native call: `code`/`domain` are libvirt's virErrorNumber/virErrorDomain (0 when not from libvirt). */
export interface NativeError extends Error {
  code: number;
  domain: number;
}

export type NativeEvent =
  | { type: "lifecycle"; domainName: string; uuid: string; event: string; detail: number }
  | { type: "disconnected"; reason: string }
  /** A console stream's output, or its end (`end`, with `error` when it failed). */
  | { type: "stream"; id: number; data?: Buffer; end?: true; error?: string };

export interface NativeHostFacts {
  hostname: string;
  cpus: number;
  memoryKiB: number;
  freeMemoryBytes: number;
  /** virConnectGetLibVersion: major * 1 000 000 + minor * 1 000 + release. */
  libVersion: number;
  /** virConnectGetVersion, same encoding. */
  hvVersion: number;
  hvType: string;
  /** virConnectGetCapabilities: page sizes and hugepage counts per NUMA cell. */
  capabilitiesXml: string;
}

export interface NativeMetricsSample {
  node: { kernelNs: number; userNs: number; idleNs: number; iowaitNs: number; memoryTotalKiB: number; memoryFreeKiB: number; memoryBuffersKiB: number; memoryCachedKiB: number };
  /** Counters per domain, summed over its disks and interfaces (virConnectGetAllDomainStats). */
  domains: Array<{
    name: string;
    state: number;
    cpuTimeNs: number;
    vcpus: number;
    balloonKiB: number;
    maxMemoryKiB: number;
    rssKiB: number;
    rdBytes: number;
    wrBytes: number;
    rdReqs: number;
    wrReqs: number;
    rxBytes: number;
    txBytes: number;
    /** Live, but busy in a job: its monitor counters (disk, RSS) were skipped this time. */
    partial: boolean;
  }>;
}

export interface NativeDomainRow {
  name: string;
  uuid: string;
  /** virDomainState */
  state: number;
}

export interface NativePoolInfo {
  capacityBytes: number;
  availableBytes: number;
  /** virStoragePoolGetXMLDesc */
  xml: string;
}

/** virDomainGetJobInfo; `type` is virDomainJobType (0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled). */
export interface NativeJobInfo {
  type: number;
  elapsedMs: number;
  dataTotal: number;
  dataProcessed: number;
  dataRemaining: number;
  memTotal: number;
  memProcessed: number;
}

export type NativeDomainOp = "create" | "shutdown" | "destroy" | "reboot" | "suspend" | "resume" | "undefine";

export interface NativeConnectionOptions {
  /** Upper bound on this connection's worker threads, started lazily. */
  maxThreads: number;
  /** A queued call not started within this long is dropped (its caller has given up). */
  callTimeoutMs: number;
}

export interface NativeConnection {
  /** virConnectOpen + virConnectSetKeepAlive (skipped when intervalS ≤ 0) + close and lifecycle callbacks. */
  open(uri: string, keepaliveIntervalS: number, keepaliveCount: number): Promise<void>;
  /** Unregisters callbacks and drops the connection; later calls reject. */
  close(): Promise<void>;
  /** Worker threads currently alive (busy or idle). */
  threadCount(): number;
  hostFacts(): Promise<NativeHostFacts>;
  /** Free pages of each size (KiB) over all NUMA cells (virNodeGetFreePages, startCell -1); at most 16 sizes. */
  freePages(sizesKiB: number[]): Promise<number[]>;
  /** Node CPU times and memory, and every domain's counters: one host's metrics in one worker call. */
  metricsSample(): Promise<NativeMetricsSample>;
  listDomains(): Promise<NativeDomainRow[]>;
  domainState(name: string): Promise<number>;
  /** flags: virDomainXMLFlags */
  domainXml(name: string, flags: number): Promise<string>;
  /** Returns the domain's UUID. */
  defineDomain(xml: string): Promise<string>;
  /** "undefine" uses MANAGED_SAVE | SNAPSHOTS_METADATA | NVRAM | CHECKPOINTS_METADATA. */
  domainOp(name: string, op: NativeDomainOp): Promise<void>;
  /** The running domain's CPU weight ("cpu_shares", live only) divided by `divisor`; the new value, 0 when the host has none. */
  divideLiveCpuShares(name: string, divisor: number): Promise<number>;
  /** vcpus (count) or memory (KiB): the definition, and the running guest too when `live`; disk: bytes of "vda" while running. */
  domainResize(name: string, what: "vcpus" | "memory" | "disk", value: number, live: boolean): Promise<void>;
  /** Grows a volume to `bytes` (libvirt refuses a shrink). */
  resizeVolume(pool: string, name: string, bytes: number): Promise<void>;
  ensurePool(name: string, xml: string): Promise<NativePoolInfo>;
  /** Returns the new volume's path. */
  createVolume(pool: string, xml: string): Promise<string>;
  volumePath(pool: string, name: string): Promise<string>;
  deleteVolume(pool: string, name: string): Promise<void>;
  /** virDomainSnapshotCreateXML with no flags. */
  createSnapshot(domain: string, xml: string): Promise<void>;
  /** virDomainSnapshotGetXMLDesc of one snapshot. */
  snapshotXml(domain: string, name: string): Promise<string>;
  /** virDomainListAllSnapshots + virDomainSnapshotGetXMLDesc of each, in one call. */
  listSnapshotXmls(domain: string): Promise<string[]>;
  /** flags: virDomainSnapshotRevertFlags */
  revertSnapshot(domain: string, name: string, flags: number): Promise<void>;
  /** virDomainSnapshotDelete with no flags (this snapshot only; children are re-parented). */
  deleteSnapshot(domain: string, name: string): Promise<void>;
  /** Defines the network from `xml` if absent, sets autostart, starts it if inactive. */
  ensureNetwork(name: string, xml: string): Promise<{ name: string; bridge: string }>;
  /** Destroys the network if active, then undefines it. */
  deleteNetwork(name: string): Promise<void>;
  /** virNWFilterGetXMLDesc; rejects with NO_NWFILTER when absent. */
  nwFilterXml(name: string): Promise<string>;
  /** virNWFilterDefineXML: defines, or redefines a filter of the same name and UUID. */
  defineNwFilter(xml: string): Promise<void>;
  /** virNWFilterUndefine; rejects with NO_NWFILTER when absent. */
  undefineNwFilter(name: string): Promise<void>;
  /** virDomainMigrateToURI3 (peer to peer from this host); `migrationUri` may be "" (flags: virDomainMigrateFlags). */
  migrate(name: string, destUri: string, migrationUri: string, flags: number): Promise<void>;
  jobInfo(name: string): Promise<NativeJobInfo>;
  /** virDomainAbortJob */
  abortJob(name: string): Promise<void>;
  /** virStorageVolLookupByPath + virStorageVolDownload of the whole file; `bytes` is its physical size. */
  openVolumeDownload(path: string): Promise<{ id: number; bytes: number }>;
  /** virStorageVolUpload of `bytes` bytes into an existing volume; returns the stream's id. */
  openVolumeUpload(pool: string, name: string, bytes: number): Promise<number>;
  /** virStreamRecv of at most `maxBytes` (≤ 8 MiB); an empty buffer at the end of the stream. */
  streamRecv(id: number, maxBytes: number): Promise<Buffer>;
  /** virStreamSend until all of `data` is sent. */
  streamSend(id: number, data: Buffer): Promise<void>;
  /** virStreamFinish (the stream is freed either way). */
  streamFinish(id: number): Promise<void>;
  /** virStreamAbort; no-op when the stream is gone. */
  streamAbort(id: number): Promise<void>;
  /** virDomainOpenConsole on a non-blocking stream; output arrives as "stream" events. `force` takes it from its holder. */
  openConsole(domain: string, force: boolean): Promise<number>;
  /** Input to a console stream (retried for up to 5 s while the guest does not read). */
  consoleSend(id: number, data: Buffer): Promise<void>;
}

interface NativeModule {
  Connection: new (listener: (event: NativeEvent) => void, options: NativeConnectionOptions) => NativeConnection;
}

let loaded: NativeModule | undefined;

/** Loads the addon on first use, so importing this module never fails where it is not built. */
export function nativeLibvirt(): NativeModule {
  loaded ??= createRequire(import.meta.url)("./native/build/Release/vmdesk_libvirt.node") as NativeModule;
  return loaded;
}
