/**
 * The performance-tuning parts of a domain's XML (pure), built into the document domain-xml.ts makes:
 * `<cputune>` (https://libvirt.org/formatdomain.html#cpu-tuning), guest NUMA cells and `<numatune>`
 * (#numa-node-tuning), `<memoryBacking>` huge pages (#memory-backing), a disk's `<iotune>` (#hard-drives-floppy-disks-cdroms),
 * an interface's `<bandwidth>` (#quality-of-service) and PCI `<hostdev>` passthrough (#usb-pci-scsi-devices).
 */
import type { XMLBuilder } from "xmlbuilder2/lib/interfaces.js";

export interface CpuTuneSpec {
  /** pCPU of each vCPU, by vCPU index (dedicated CPUs: one pCPU each, never shared). */
  vcpuPins?: readonly number[];
  /** pCPUs QEMU's own threads run on. */
  emulatorPins?: readonly number[];
  /** Relative CPU weight (cgroup cpu.shares). */
  shares?: number;
  /** CFS enforcement period and quota of each vCPU, in µs (cgroup cpu.cfs_period_us, cpu.cfs_quota_us). */
  periodUs?: number;
  quotaUs?: number;
}

export interface NumaSpec {
  /** Guest NUMA cells: vCPUs and memory split evenly, in order. */
  cells: number;
  /** Host memory binding (`<numatune><memory mode nodeset>`); absent: none. */
  tune?: { mode: "strict" | "preferred" | "interleave" | "restrictive"; nodeset: string };
}

export interface IoTuneSpec {
  totalIopsSec?: number;
  readIopsSec?: number;
  writeIopsSec?: number;
  totalBytesSec?: bigint | number;
  readBytesSec?: bigint | number;
  writeBytesSec?: bigint | number;
}

/** One direction of `<bandwidth>`: average and peak in KiB/s, burst in KiB. */
export interface BandwidthLimit {
  average: number;
  peak?: number;
  burst?: number;
}

export interface BandwidthSpec {
  inbound?: BandwidthLimit;
  outbound?: BandwidthLimit;
}

export interface PciHostdev {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, "0")}`;

/** "1,3,4" for libvirt's cpuset attributes (ascending, no duplicates). */
export function cpuset(pcpus: readonly number[]): string {
  return [...new Set(pcpus)].sort((a, b) => a - b).join(",");
}

/** `<cputune>` after `<vcpu>`; nothing when the spec sets nothing. */
export function addCputune(domain: XMLBuilder, spec: CpuTuneSpec | undefined): void {
  if (!spec) return;
  const { vcpuPins = [], emulatorPins = [] } = spec;
  if (vcpuPins.length === 0 && emulatorPins.length === 0 && spec.shares === undefined && spec.periodUs === undefined && spec.quotaUs === undefined) return;
  const tune = domain.ele("cputune");
  if (spec.shares !== undefined) tune.ele("shares").txt(String(spec.shares));
  if (spec.periodUs !== undefined) tune.ele("period").txt(String(spec.periodUs));
  if (spec.quotaUs !== undefined) tune.ele("quota").txt(String(spec.quotaUs));
  vcpuPins.forEach((pcpu, vcpu) => tune.ele("vcpupin", { vcpu: String(vcpu), cpuset: String(pcpu) }));
  if (emulatorPins.length > 0) tune.ele("emulatorpin", { cpuset: cpuset(emulatorPins) });
}

/** `<memoryBacking>` with huge pages from a memfd (QEMU's memfd_create with MFD_HUGETLB: no hugetlbfs mount needed). */
export function addMemoryBacking(domain: XMLBuilder, hugepagesKiB: number | undefined): void {
  if (hugepagesKiB === undefined) return;
  const backing = domain.ele("memoryBacking");
  backing.ele("hugepages").ele("page", { size: String(hugepagesKiB), unit: "KiB" });
  backing.ele("source", { type: "memfd" });
}

/**
 * Guest NUMA cells inside `cpu` (vCPUs 0…vcpus−1 and `memoryMiB` split evenly in order, the last cell
 * taking what does not divide), and `<numatune>` on the domain.
 */
export function addNuma(domain: XMLBuilder, cpu: () => XMLBuilder, numa: NumaSpec | undefined, vcpus: number, memoryMiB: number): void {
  if (!numa) return;
  if (numa.cells > 0) {
    const numaEl = cpu().ele("numa");
    const memKiB = memoryMiB * 1024;
    for (let i = 0; i < numa.cells; i++) {
      const first = Math.floor((i * vcpus) / numa.cells);
      const last = Math.floor(((i + 1) * vcpus) / numa.cells) - 1;
      const cellKiB = i === numa.cells - 1 ? memKiB - Math.floor(memKiB / numa.cells) * (numa.cells - 1) : Math.floor(memKiB / numa.cells);
      numaEl.ele("cell", { id: String(i), cpus: first === last ? String(first) : `${first}-${last}`, memory: String(cellKiB), unit: "KiB" });
    }
  }
  if (numa.tune) domain.ele("numatune").ele("memory", { mode: numa.tune.mode, nodeset: numa.tune.nodeset });
}

/** `<iotune>` inside a `<disk>`. */
export function addIotune(disk: XMLBuilder, spec: IoTuneSpec | undefined): void {
  if (!spec) return;
  const entries: Array<[string, bigint | number | undefined]> = [
    ["total_bytes_sec", spec.totalBytesSec],
    ["read_bytes_sec", spec.readBytesSec],
    ["write_bytes_sec", spec.writeBytesSec],
    ["total_iops_sec", spec.totalIopsSec],
    ["read_iops_sec", spec.readIopsSec],
    ["write_iops_sec", spec.writeIopsSec],
  ];
  const set = entries.filter((e): e is [string, bigint | number] => e[1] !== undefined);
  if (set.length === 0) return;
  const iotune = disk.ele("iotune");
  for (const [name, value] of set) iotune.ele(name).txt(String(value));
}

/** `<bandwidth>` inside an `<interface>` (libvirt applies it with tc on the host's tap device). */
export function addBandwidth(iface: XMLBuilder, spec: BandwidthSpec | undefined): void {
  if (!spec || (!spec.inbound && !spec.outbound)) return;
  const bw = iface.ele("bandwidth");
  for (const dir of ["inbound", "outbound"] as const) {
    const limit = spec[dir];
    if (!limit) continue;
    bw.ele(dir, {
      average: String(limit.average),
      ...(limit.peak !== undefined ? { peak: String(limit.peak) } : {}),
      ...(limit.burst !== undefined ? { burst: String(limit.burst) } : {}),
    });
  }
}

/** PCI passthrough: libvirt detaches each device from its host driver (managed) and gives it to the guest. */
export function addHostdevs(devices: XMLBuilder, hostdevs: readonly PciHostdev[] | undefined): void {
  for (const d of hostdevs ?? []) {
    devices
      .ele("hostdev", { mode: "subsystem", type: "pci", managed: "yes" })
      .ele("source")
      .ele("address", { domain: hex(d.domain, 4), bus: hex(d.bus, 2), slot: hex(d.slot, 2), function: hex(d.function, 1) });
  }
}

const positiveInt = (n: number | bigint) => (typeof n === "bigint" ? n > 0n : Number.isInteger(n) && n > 0);

/** Throws on tuning libvirt would reject or that makes no sense for `vcpus` vCPUs and `memoryMiB`. */
export function validateTuning(t: { cputune?: CpuTuneSpec; numa?: NumaSpec; hugepagesKiB?: number; hostdevs?: readonly PciHostdev[] }, vcpus: number): void {
  const tune = t.cputune;
  if (tune) {
    if ((tune.vcpuPins?.length ?? 0) > vcpus) throw new Error(`vcpupin for ${tune.vcpuPins!.length} vCPUs, but the domain has ${vcpus}`);
    for (const p of [...(tune.vcpuPins ?? []), ...(tune.emulatorPins ?? [])]) if (!Number.isInteger(p) || p < 0) throw new Error(`invalid pCPU: ${p}`);
    for (const [name, value] of [["shares", tune.shares], ["period", tune.periodUs], ["quota", tune.quotaUs]] as const) {
      if (value !== undefined && !positiveInt(value)) throw new Error(`invalid cputune ${name}: ${value}`);
    }
  }
  if (t.numa) {
    if (!Number.isInteger(t.numa.cells) || t.numa.cells < 0 || t.numa.cells > vcpus) throw new Error(`invalid NUMA cell count ${t.numa.cells} for ${vcpus} vCPUs`);
    if (t.numa.tune && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(t.numa.tune.nodeset)) throw new Error(`invalid NUMA nodeset: ${JSON.stringify(t.numa.tune.nodeset)}`);
  }
  if (t.hugepagesKiB !== undefined && !positiveInt(t.hugepagesKiB)) throw new Error(`invalid huge page size: ${t.hugepagesKiB}`);
  for (const d of t.hostdevs ?? []) {
    const ok = [d.domain <= 0xffff, d.bus <= 0xff, d.slot <= 0x1f, d.function <= 7].every(Boolean) && [d.domain, d.bus, d.slot, d.function].every((n) => Number.isInteger(n) && n >= 0);
    if (!ok) throw new Error(`invalid PCI address: ${JSON.stringify(d)}`);
  }
}
