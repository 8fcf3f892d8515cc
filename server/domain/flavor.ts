/**
 * Flavors (pure): an admin-defined size with tuning knobs, the bounds every knob is held to, the
 * dedicated-pCPU arithmetic placement uses, and what a change of flavor needs. Tenants see the size;
 * the knobs are the admin's (services/flavor-service.ts shapes the two views).
 */
import { AppError } from "./errors.ts";

/**
 * Smallest memory a UEFI guest boots with (measured with the demo guest: shim → grub → Linux). With
 * OVMF's SMM (Secure Boot) build at 256 MiB grub reports "out of memory" loading the kernel, or the
 * kernel's EFI stub resets the machine; 384 MiB boots. The domain XML builder does not enforce it (a
 * spec below it builds and fails only at boot): flavorProblem refuses it.
 */
export const FIRMWARE_MIN_MEMORY_MIB = { uefi: 256, secureBoot: 384 } as const;

export const NUMA_MODES = ["strict", "preferred", "interleave", "restrictive"] as const;
export type NumaMode = (typeof NUMA_MODES)[number];
export const FIRMWARES = ["bios", "uefi"] as const;
export type Firmware = (typeof FIRMWARES)[number];

/** Huge page sizes x86-64 offers (KiB): 2 MiB and 1 GiB. */
export const HUGEPAGE_SIZES_KIB = [2048, 1_048_576] as const;

/**
 * Bounds of every knob, as libvirt and the kernel take them: CFS period 1 ms…1 s and quota ≥ 1 ms
 * (cgroup v1 `cpu.cfs_*_us`), shares 2…262144 (cgroup v1 `cpu.shares`), NUMA cells at most the vCPUs.
 */
export const FLAVOR_LIMITS = {
  vcpus: { min: 1, max: 64 },
  memoryMiB: { min: 96, max: 1_048_576 },
  diskGiB: { min: 1, max: 65_536 },
  numaNodes: { min: 0, max: 8 },
  cpuShares: { min: 2, max: 262_144 },
  cpuPeriodUs: { min: 1_000, max: 1_000_000 },
  cpuQuotaUs: { min: 1_000, max: 17_592_186_044_415 },
  iops: { min: 1, max: 1_000_000 },
  bytesSec: { min: 1, max: 100 * 1024 ** 3 },
  netKiBs: { min: 1, max: 100 * 1024 * 1024 },
  hostDevices: { max: 8 },
} as const;

/** domain:bus:slot.function, as lspci -D prints it (hex): 0000:65:00.0. */
export const PCI_ADDRESS = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([01][0-9a-fA-F])\.([0-7])$/;

export interface PciAddress {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

export function parsePciAddress(text: string): PciAddress | null {
  const m = PCI_ADDRESS.exec(text.trim());
  if (!m) return null;
  return { domain: parseInt(m[1]!, 16), bus: parseInt(m[2]!, 16), slot: parseInt(m[3]!, 16), function: Number(m[4]) };
}

/** A PCI address in its canonical text (lower-case hex, zero-padded). */
export function formatPciAddress(a: PciAddress): string {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${a.function}`;
}

/** A host nodeset as libvirt writes one: "0", "0-1", "0,2-3". */
export const NODESET = /^\d{1,3}(-\d{1,3})?(,\d{1,3}(-\d{1,3})?){0,15}$/;

/** Every tuning knob of a flavor (the size aside). Null: not set, libvirt's default. */
export interface FlavorTuning {
  dedicatedCpus: boolean;
  numaNodes: number;
  numaMode: NumaMode | null;
  numaNodeset: string | null;
  hugepagesKiB: number | null;
  cpuShares: number | null;
  cpuPeriodUs: number | null;
  cpuQuotaUs: number | null;
  diskTotalIops: number | null;
  diskReadIops: number | null;
  diskWriteIops: number | null;
  diskTotalBytesSec: bigint | null;
  diskReadBytesSec: bigint | null;
  diskWriteBytesSec: bigint | null;
  netInAverageKiBs: number | null;
  netInPeakKiBs: number | null;
  netInBurstKiB: number | null;
  netOutAverageKiBs: number | null;
  netOutPeakKiBs: number | null;
  netOutBurstKiB: number | null;
  firmware: Firmware;
  secureBoot: boolean;
  tpm: boolean;
  /** PCI addresses of the host devices passed through (on the VM's host). */
  hostDevices: readonly string[];
}

export const TUNING_KEYS = [
  "dedicatedCpus", "numaNodes", "numaMode", "numaNodeset", "hugepagesKiB", "cpuShares", "cpuPeriodUs", "cpuQuotaUs",
  "diskTotalIops", "diskReadIops", "diskWriteIops", "diskTotalBytesSec", "diskReadBytesSec", "diskWriteBytesSec",
  "netInAverageKiBs", "netInPeakKiBs", "netInBurstKiB", "netOutAverageKiBs", "netOutPeakKiBs", "netOutBurstKiB",
  "firmware", "secureBoot", "tpm",
] as const satisfies ReadonlyArray<Exclude<keyof FlavorTuning, "hostDevices">>;

/** No tuning at all: what a VM without a flavor has. */
export const NO_TUNING: FlavorTuning = {
  dedicatedCpus: false, numaNodes: 0, numaMode: null, numaNodeset: null, hugepagesKiB: null, cpuShares: null, cpuPeriodUs: null, cpuQuotaUs: null,
  diskTotalIops: null, diskReadIops: null, diskWriteIops: null, diskTotalBytesSec: null, diskReadBytesSec: null, diskWriteBytesSec: null,
  netInAverageKiBs: null, netInPeakKiBs: null, netInBurstKiB: null, netOutAverageKiBs: null, netOutPeakKiBs: null, netOutBurstKiB: null,
  firmware: "bios", secureBoot: false, tpm: false, hostDevices: [],
};

/**
 * The rules between knobs (each knob's own bounds are checked at the API edge): the reason a flavor
 * cannot be, or null. Guest NUMA needs at least one vCPU and an equal share of memory per cell; huge
 * pages must tile the memory; total and read/write limits exclude each other (libvirt refuses both);
 * a peak below its average limits nothing more; Secure Boot needs UEFI; UEFI and Secure Boot need
 * their memory floors (FIRMWARE_MIN_MEMORY_MIB).
 */
export function flavorProblem(f: { vcpus: number; memoryMiB: number } & Omit<FlavorTuning, "hostDevices">): string | null {
  if (f.numaNodes > f.vcpus) return `numaNodes (${f.numaNodes}) cannot exceed vcpus (${f.vcpus}): every guest NUMA cell needs a vCPU`;
  if (f.numaNodes > 0 && f.memoryMiB % f.numaNodes !== 0) return `memoryMiB (${f.memoryMiB}) must divide evenly into ${f.numaNodes} NUMA cells`;
  if (f.numaMode !== null && f.numaNodeset === null) return "numaMode needs numaNodeset (the host NUMA nodes to bind the memory to)";
  if (f.numaNodeset !== null && f.numaMode === null) return "numaNodeset needs numaMode";
  if (f.hugepagesKiB !== null) {
    const pageMiB = f.hugepagesKiB / 1024;
    const perCell = f.numaNodes > 0 ? f.memoryMiB / f.numaNodes : f.memoryMiB;
    if (perCell % pageMiB !== 0) return `memory${f.numaNodes > 0 ? " per NUMA cell" : ""} (${perCell} MiB) must be a whole number of ${f.hugepagesKiB} KiB huge pages`;
  }
  if (f.cpuQuotaUs !== null && f.cpuPeriodUs !== null && f.cpuQuotaUs < 1000) return "cpuQuotaUs must be at least 1000";
  if (f.diskTotalIops !== null && (f.diskReadIops !== null || f.diskWriteIops !== null)) return "diskTotalIops excludes diskReadIops and diskWriteIops (libvirt takes one or the other)";
  if (f.diskTotalBytesSec !== null && (f.diskReadBytesSec !== null || f.diskWriteBytesSec !== null)) return "diskTotalBytesSec excludes diskReadBytesSec and diskWriteBytesSec (libvirt takes one or the other)";
  for (const dir of ["In", "Out"] as const) {
    const average = f[`net${dir}AverageKiBs`];
    const peak = f[`net${dir}PeakKiBs`];
    const burst = f[`net${dir}BurstKiB`];
    if ((peak !== null || burst !== null) && average === null) return `net${dir}PeakKiBs and net${dir}BurstKiB need net${dir}AverageKiBs`;
    if (peak !== null && average !== null && peak < average) return `net${dir}PeakKiBs (${peak}) must be at least net${dir}AverageKiBs (${average})`;
  }
  if (f.secureBoot && f.firmware !== "uefi") return "secureBoot needs firmware uefi";
  // Below these the guest is defined and started, then never boots (grub out of memory, or a reset
  // loop): refused here rather than found by a tenant staring at a black console.
  if (f.secureBoot && f.memoryMiB < FIRMWARE_MIN_MEMORY_MIB.secureBoot) return `Secure Boot guests need at least ${FIRMWARE_MIN_MEMORY_MIB.secureBoot} MiB of memory (OVMF's SMM build)`;
  if (f.firmware === "uefi" && f.memoryMiB < FIRMWARE_MIN_MEMORY_MIB.uefi) return `UEFI guests need at least ${FIRMWARE_MIN_MEMORY_MIB.uefi} MiB of memory`;
  return null;
}

/** Tuning that differs between two flavors (a VM must be stopped to take it: it is in the definition only). */
export function tuningChanges(from: FlavorTuning, to: FlavorTuning): string[] {
  const changed: string[] = TUNING_KEYS.filter((k) => from[k] !== to[k]);
  const a = [...from.hostDevices].sort().join(",");
  const b = [...to.hostDevices].sort().join(",");
  if (a !== b) changed.push("hostDevices");
  return changed;
}

/**
 * The pCPUs a host can dedicate: every one from `reserved` up (0…reserved−1 stay with the host, whose
 * own threads and QEMU's I/O run there), minus those other VMs hold.
 */
export function freePcpus(cpus: number, reserved: number, taken: ReadonlySet<number>): number[] {
  const free: number[] = [];
  for (let p = Math.max(0, reserved); p < cpus; p++) if (!taken.has(p)) free.push(p);
  return free;
}

/**
 * The `count` pCPUs a dedicated VM gets: the lowest free ones, or null when there are not enough.
 * Deterministic, so a retried transaction picks the same ones.
 */
export function choosePcpus(cpus: number, reserved: number, taken: ReadonlySet<number>, count: number): number[] | null {
  const free = freePcpus(cpus, reserved, taken);
  return free.length >= count ? free.slice(0, count) : null;
}

/** 412 unless the VM is stopped when its flavor's tuning changes (it lives in the definition only). */
export function assertTuningChangeAllowed(state: string, changes: readonly string[]): void {
  if (changes.length === 0 || state === "stopped") return;
  throw new AppError("WRONG_STATE", `a flavor with other tuning (${changes.join(", ")}) needs the VM stopped`, { state });
}
