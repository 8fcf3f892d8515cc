/**
 * The one interface every hypervisor back end implements. Only server/jobs and server/console use it:
 * API requests record operations, workers perform them.
 *
 * Every method talks to one host and must settle within that host's call timeout (rejecting with
 * HypervisorError kind "timeout"); a slow or dead host never blocks calls to other hosts, Node's
 * event loop, or its libuv thread pool.
 */
import type { CounterReading } from "../domain/metrics.ts";

/** libvirt's own domain states (virDomainState), named as libvirt names them. */
export type DomainRunState =
  | "nostate"
  | "running"
  | "blocked"
  | "paused"
  | "shutdown"
  | "shutoff"
  | "crashed"
  | "pmsuspended";

export interface DomainSummary {
  /** libvirt domain name: vmdesk's own id, never user text. */
  name: string;
  uuid: string;
  state: DomainRunState;
}

export interface HostFacts {
  hostname: string;
  cpus: number;
  memoryMiB: number;
  freeMemoryMiB: number;
  libvirtVersion: string;
  hypervisorVersion: string;
  /** Huge pages per size (not the base page), summed over NUMA cells; empty where the host has none configured or reports none. */
  hugepages: Array<{ sizeKiB: number; total: number; free: number }>;
}

/**
 * One reading of a host's counters (cumulative since boot or domain start; rates come from two
 * readings, see domain/metrics): the node's CPU times and memory, and every domain's counters.
 */
export type HostMetricsSample = CounterReading;

export interface StoragePoolFacts {
  name: string;
  path: string;
  capacityBytes: number;
  availableBytes: number;
}

export interface SnapshotInfo {
  name: string;
  /** libvirt's creationTime (second precision). */
  createdAt: Date;
  /** The domain's state when the snapshot was taken (virDomainSnapshotState name: running, shutoff, paused, …). */
  state: string;
  description?: string;
}

/** A migration's progress as libvirt reports it (virDomainGetJobInfo), or null when no job runs. */
export interface DomainJob {
  elapsedMs: number;
  /** Bytes to move in all (memory and, with storage copy, disks) and moved so far; 0 when unknown. */
  dataTotal: number;
  dataProcessed: number;
  dataRemaining: number;
}

/** Where a live migration goes: the destination's libvirt URI as hosts reach each other, and its address. */
export interface MigrationTarget {
  /** Peer-to-peer: the source host's daemon opens this URI with its own credentials. */
  peerUri: string;
  /** Where the source QEMU sends the guest's state (`tcp://ADDRESS`): the destination's name may not resolve there. */
  address: string;
}

/** A volume's bytes read from its host in chunks (a libvirt download stream). */
export interface VolumeReader {
  /** The file's size as stored (for qcow2 the physical size, not the virtual disk). */
  readonly bytes: number;
  /** The next chunk of at most `maxBytes`; an empty buffer at the end. */
  read(maxBytes: number): Promise<Buffer>;
  /** Ends the download early; no-op once finished. */
  abort(): Promise<void>;
}

/** A volume's new content written to its host in chunks (a libvirt upload stream). */
export interface VolumeWriter {
  write(chunk: Buffer): Promise<void>;
  /** Completes the upload: the bytes are on the host when it resolves. */
  finish(): Promise<void>;
  /** Ends the upload early (the volume's content is then undefined); no-op once finished. */
  abort(): Promise<void>;
}

/**
 * A guest's serial console through libvirt (virDomainOpenConsole): works on every host the portal
 * reaches, over the same connection. One holder per console on its host; `force` takes it over.
 */
export interface ConsoleStream {
  /** Output as it arrives (bytes already received before the listener was set are delivered first). */
  onData(listener: (chunk: Buffer) => void): void;
  /** Called once when the console closes: `error` null for a normal end (guest stopped, taken over). */
  onEnd(listener: (error: string | null) => void): void;
  write(data: Buffer): Promise<void>;
  /** Lets the console go; no-op once ended. */
  close(): Promise<void>;
}

export interface NetworkFacts {
  name: string;
  /** Host bridge the network's guests are attached to (chosen by libvirt unless the XML names one). */
  bridge: string;
}

export type HypervisorErrorKind = "libvirt" | "timeout" | "disconnected";

/**
 * A failed host call. `code` is libvirt's virErrorNumber (VIR_ERR_*, see
 * https://libvirt.org/html/libvirt-virterror.html) for kind "libvirt", 0 otherwise.
 */
export class HypervisorError extends Error {
  constructor(
    readonly kind: HypervisorErrorKind,
    message: string,
    readonly code = 0,
    readonly domain = 0,
  ) {
    super(message);
    this.name = "HypervisorError";
  }
}

/** libvirt error numbers we branch on (virterror.h). Match codes, never message text. */
export const VIR_ERR = {
  OPERATION_INVALID: 55,
  NO_DOMAIN: 42,
  NO_STORAGE_POOL: 49,
  NO_STORAGE_VOL: 50,
  OPERATION_TIMEOUT: 68,
  STORAGE_VOL_EXIST: 90,
  NO_DOMAIN_SNAPSHOT: 72,
  DOM_EXIST: 52,
  SYSTEM_ERROR: 38,
  NO_SUPPORT: 3,
  OPERATION_FAILED: 9,
  NO_NETWORK: 43,
  NO_NWFILTER: 62,
  /** A resource (a disk lease) is held by someone else. */
  RESOURCE_BUSY: 87,
} as const;

export type HostEvent =
  | {
      type: "lifecycle";
      domainName: string;
      uuid: string;
      /** virDomainEventType name, lowercase: defined, undefined, started, suspended, resumed, stopped, shutdown, pmsuspended, crashed */
      event: string;
      detail: number;
    }
  | { type: "connected" }
  | { type: "disconnected"; reason: string };

/** A live connection to one host. Reconnects on its own; emits "connected" after every (re)connect. */
export interface HostConnection {
  readonly uri: string;
  /** True while the underlying connection is open and alive. */
  readonly isConnected: boolean;
  onEvent(listener: (event: HostEvent) => void): () => void;

  hostFacts(): Promise<HostFacts>;
  /** The host's and all its domains' counters in one bulk call (never one call per domain). */
  metricsSample(): Promise<HostMetricsSample>;
  listDomains(): Promise<DomainSummary[]>;
  /** null when the domain does not exist. */
  domainState(name: string): Promise<DomainRunState | null>;
  /** Live XML when running, else persistent. Rejects with NO_DOMAIN when absent. */
  domainXml(name: string, opts?: { inactive?: boolean }): Promise<string>;
  /** Defines (or redefines) a persistent domain; returns its UUID. */
  defineDomain(xml: string): Promise<string>;
  /** No-op when already running. */
  startDomain(name: string): Promise<void>;
  /** ACPI power button request; returns at once. */
  shutdownDomain(name: string): Promise<void>;
  /** Hard power off; no-op when not running or absent. */
  destroyDomain(name: string): Promise<void>;
  rebootDomain(name: string): Promise<void>;
  suspendDomain(name: string): Promise<void>;
  resumeDomain(name: string): Promise<void>;
  /** Removes the definition (with snapshots metadata, managed save, nvram); no-op when absent. */
  undefineDomain(name: string): Promise<void>;
  /**
   * Changes a domain's vCPU count or memory (MiB, through the balloon), in its definition and, when
   * `live`, in the running guest: up to the maximum its definition allows (`<vcpu>`, `<memory>`).
   */
  setDomainResources(name: string, what: "vcpus" | "memoryMiB", value: number, live: boolean): Promise<void>;
  /** Grows the running guest's first disk (vda) to `bytes`: QEMU resizes the image and tells the guest. */
  growLiveDisk(name: string, bytes: number): Promise<void>;

  /** Defines, builds and starts a dir pool at `path` if absent, starts it if inactive, refreshes it. */
  ensureDirPool(name: string, path: string): Promise<StoragePoolFacts>;
  /** Creates a volume from XML; returns its path. Rejects with STORAGE_VOL_EXIST when present. */
  createVolume(pool: string, xml: string): Promise<string>;
  /** Path of the volume, or null when absent. */
  volumePath(pool: string, name: string): Promise<string | null>;
  /** No-op when absent. */
  deleteVolume(pool: string, name: string): Promise<void>;
  /** Grows a volume to `bytes`; no-op when it is that size already. Never shrinks. */
  growVolume(pool: string, name: string, bytes: number): Promise<void>;

  /**
   * Takes an internal snapshot (qcow2; with RAM when the domain runs, pausing it meanwhile). No-op
   * when the domain already has a snapshot of that name. Names: [A-Za-z0-9_.-]+.
   */
  createSnapshot(domain: string, name: string, description?: string): Promise<void>;
  /**
   * Reverts to a snapshot. The domain's run state afterwards is the one at snapshot time unless
   * `running`/`paused` forces it. Reverting a running guest restarts QEMU: the VNC port may change.
   */
  revertSnapshot(domain: string, name: string, opts?: { running?: boolean; paused?: boolean }): Promise<void>;
  /** No-op when absent. */
  deleteSnapshot(domain: string, name: string): Promise<void>;
  /** The domain's snapshots, oldest first. Rejects with NO_DOMAIN when the domain is absent. */
  listSnapshots(domain: string): Promise<SnapshotInfo[]>;

  /** Defines the network from `xml` if absent, starts it if inactive, marks it autostart. */
  ensureNetwork(name: string, xml: string): Promise<NetworkFacts>;
  /** Destroys and undefines the network; no-op when absent. */
  deleteNetwork(name: string): Promise<void>;

  /**
   * Defines the network filter from `xml` when absent or when its rules differ from the defined
   * ones (same name and UUID: a redefinition, which libvirt re-applies to running guests); no-op
   * when equal. Resolves with what it did.
   */
  ensureNwFilter(name: string, xml: string): Promise<"defined" | "updated" | "unchanged">;
  /** Undefines the filter; no-op when absent. Rejects while a defined domain or filter still references it. */
  deleteNwFilter(name: string): Promise<void>;
  /**
   * Live-migrates a running domain to another host, peer to peer (this host's daemon connects to the
   * destination), defining it there and undefining it here. `storage: "copy"` moves the disks too
   * (incrementally: each disk's backing image must already be at the same path on the destination,
   * and its pool must exist there); `"shared"` moves memory only, the disks being files both hosts
   * reach at the same path (the caller vouches for that: libvirt's own check does not recognise
   * every shared file system). Resolves when the guest runs on the destination; on any failure the
   * guest keeps running here. After `timeoutMs` the job is aborted (it rolls back) and the call
   * rejects with kind "timeout".
   */
  migrateDomain(name: string, target: MigrationTarget, opts: { storage: "copy" | "shared"; timeoutMs: number }): Promise<void>;
  /** The domain's running job (a migration), or null when none runs. */
  domainJob(name: string): Promise<DomainJob | null>;

  /**
   * Reads a volume's file from this host. The path must lie in one of the host's storage pools
   * (rejects with NO_STORAGE_VOL otherwise). Each read is one call under the call timeout; the
   * reader belongs to this connection and fails once it reconnects.
   */
  openVolumeReader(path: string): Promise<VolumeReader>;
  /** Replaces the content of an existing volume of `pool` with `bytes` bytes written through the writer. */
  openVolumeWriter(pool: string, name: string, bytes: number): Promise<VolumeWriter>;
  /** The domain's serial console (a pty chardev; rejects for others). */
  openConsole(domain: string, opts: { force: boolean }): Promise<ConsoleStream>;

  close(): Promise<void>;
}

export interface HostConnectOptions {
  uri: string;
  /** Upper bound for every call, including opening the connection. */
  callTimeoutMs: number;
  /** Keepalive: probe every intervalS seconds, drop after count unanswered probes. */
  keepalive?: { intervalS: number; count: number };
  /** A started guest's CPU weight is divided by this (default 1: left alone; see libvirt-host.ts). */
  runningWeightDivisor?: number;
}

export interface HypervisorDriver {
  connect(options: HostConnectOptions): HostConnection;
}
