/**
 * Where a VM's pieces live on its host and what its domain looks like: derived from database rows
 * only, so every retry of an operation computes exactly the same names and XML (idempotent steps).
 */
import type { BandwidthSpec, DiskSpec, DomainSpec } from "../hypervisor/xml/index.ts";
import { buildDomainXml, buildVolumeXml } from "../hypervisor/xml/index.ts";
import { storedCloudInit } from "../domain/cloud-init.ts";
import { parsePciAddress, type FlavorTuning } from "../domain/flavor.ts";
import { isLocalHostUri } from "../domain/host-uri.ts";
import { GUEST_FILTER, GUEST_FILTER_PARAMETERS, GUEST_NAT, HOST_GUARD_FILTER } from "../hypervisor/guest-network.ts";

export interface VmRow {
  id: string;
  name: string;
  ownerId: string;
  domainName: string;
  /** isolated class network, when the VM's class has one */
  networkName?: string | null;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  /** Live resize ceilings (Vm.maxVcpus, Vm.maxMemoryMiB); absent or null: the current size. */
  maxVcpus?: number | null;
  maxMemoryMiB?: number | null;
  /** Vm.cloudInit: set when the VM has a NoCloud seed disc (see cloud-init-seed.ts). */
  cloudInit?: unknown;
  /** Its flavor's tuning (absent: none) and the dedicated pCPUs it holds on its host (CpuAllocation). */
  tuning?: VmTuning | null;
}

export interface VmTuning extends FlavorTuning {
  /** The pCPUs allocated to it on its host, ascending: vCPU i is pinned to pcpus[i]. */
  pcpus: readonly number[];
}

/**
 * A flavor's tuning as domain XML parts. Dedicated CPUs: vCPU i on its own pCPU i and QEMU's threads
 * on the same set (they never float onto other VMs' dedicated pCPUs); without enough allocated pCPUs
 * (a row lost) nothing is pinned rather than sharing one.
 */
export function tuningSpec(t: VmTuning, vcpus: number): Pick<DomainSpec, "cputune" | "numa" | "hugepagesKiB" | "hostdevs"> & { iotune?: DiskSpec["iotune"]; bandwidth?: BandwidthSpec } {
  const pinned = t.dedicatedCpus && t.pcpus.length >= vcpus ? t.pcpus.slice(0, vcpus) : [];
  const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
  const cputune = {
    ...(pinned.length > 0 ? { vcpuPins: pinned, emulatorPins: pinned } : {}),
    ...(t.cpuShares !== null ? { shares: t.cpuShares } : {}),
    ...(t.cpuPeriodUs !== null ? { periodUs: t.cpuPeriodUs } : {}),
    ...(t.cpuQuotaUs !== null ? { quotaUs: t.cpuQuotaUs } : {}),
  };
  const iotune = {
    totalIopsSec: opt(t.diskTotalIops), readIopsSec: opt(t.diskReadIops), writeIopsSec: opt(t.diskWriteIops),
    totalBytesSec: opt(t.diskTotalBytesSec), readBytesSec: opt(t.diskReadBytesSec), writeBytesSec: opt(t.diskWriteBytesSec),
  };
  const limit = (average: number | null, peak: number | null, burst: number | null) =>
    average === null ? undefined : { average, ...(peak !== null ? { peak } : {}), ...(burst !== null ? { burst } : {}) };
  const inbound = limit(t.netInAverageKiBs, t.netInPeakKiBs, t.netInBurstKiB);
  const outbound = limit(t.netOutAverageKiBs, t.netOutPeakKiBs, t.netOutBurstKiB);
  const hostdevs = t.hostDevices.map((a) => parsePciAddress(a)).filter((a) => a !== null);
  return {
    ...(Object.keys(cputune).length > 0 ? { cputune } : {}),
    ...(t.numaNodes > 0 || t.numaMode !== null ? { numa: { cells: t.numaNodes, ...(t.numaMode !== null && t.numaNodeset !== null ? { tune: { mode: t.numaMode, nodeset: t.numaNodeset } } : {}) } } : {}),
    ...(t.hugepagesKiB !== null ? { hugepagesKiB: t.hugepagesKiB } : {}),
    ...(hostdevs.length > 0 ? { hostdevs } : {}),
    ...(Object.values(iotune).some((v) => v !== undefined) ? { iotune } : {}),
    ...(inbound || outbound ? { bandwidth: { ...(inbound ? { inbound } : {}), ...(outbound ? { outbound } : {}) } } : {}),
  };
}

export interface HostRow {
  id: string;
  /** For messages (the worker loads whole host rows). */
  name?: string;
  uri: string;
  domainType: string;
  cpuMode: string;
  poolName: string;
  poolPath: string;
  /** The pool is shared storage (see domain/shared-storage). */
  poolShared?: boolean;
}

/** A class with its own isolated network puts its VMs there (they reach each other, not the outside). */
export function classNetworkName(classId: string): string {
  return `vmdesk-c-${classId.slice(0, 8)}`;
}

export interface ImageRow {
  path: string;
  format: string;
}

export const GiB = 1024 ** 3;

export function diskVolumeName(vm: VmRow): string {
  return `${vm.domainName}.qcow2`;
}

/** The VM's cloud-init seed (an ISO labelled cidata) in its host's pool. */
export function seedVolumeName(vm: Pick<VmRow, "domainName">): string {
  return `${vm.domainName}-cidata.iso`;
}

/** Where the seed lies: a directory pool keeps each volume as a file named after it (ensurePool checks the path). */
export function seedVolumePath(vm: VmRow, host: HostRow): string {
  return `${host.poolPath.replace(/\/+$/, "")}/${seedVolumeName(vm)}`;
}

/** The serial console is logged by virtlogd on the host; the first output marks the guest as alive. */
export function serialLogPath(domainName: string): string {
  return `/var/log/libvirt/qemu/${domainName}-serial.log`;
}

/**
 * The serial console's unix socket: QEMU (as libvirt-qemu) creates it in its own state directory; the
 * console proxy connects to it. One client at a time (QEMU's socket chardev serves one connection).
 */
export function serialSocketPath(domainName: string): string {
  return `/var/lib/libvirt/qemu/${domainName}.serial.sock`;
}

/** A linked clone (qcow2 overlay on the image) for disk images; a blank disk for ISO installs. */
export function diskVolumeXml(vm: VmRow, image: ImageRow | null): string {
  const backing = image && image.format !== "iso" ? { path: image.path, format: image.format as "qcow2" | "raw" } : undefined;
  return buildVolumeXml({ name: diskVolumeName(vm), capacityBytes: vm.diskGiB * GiB, format: "qcow2", backing });
}

export function domainSpec(vm: VmRow, host: HostRow, image: ImageRow | null, diskPath: string): DomainSpec {
  const isIso = image?.format === "iso";
  const remote = !isLocalHostUri(host.uri);
  const domainType = host.domainType === "qemu" ? "qemu" : "kvm";
  const { iotune, bandwidth, ...tuning } = vm.tuning ? tuningSpec(vm.tuning, Math.max(vm.vcpus, vm.maxVcpus ?? 0)) : {};
  return {
    name: vm.domainName,
    uuid: vm.id,
    title: vm.name,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    ...(vm.maxVcpus ? { maxVcpus: vm.maxVcpus } : {}),
    ...(vm.maxMemoryMiB ? { maxMemoryMiB: vm.maxMemoryMiB } : {}),
    domainType,
    cpuMode: (host.cpuMode as DomainSpec["cpuMode"]) ?? "none",
    tcgTbCacheMiB: domainType === "qemu" ? 32 : undefined,
    disks: [
      { path: diskPath, format: "qcow2", device: "disk", bus: "virtio", ...(host.poolShared ? { cache: "none" as const } : {}), ...(iotune ? { iotune } : {}) },
      ...(isIso && image ? [{ path: image.path, format: "raw" as const, device: "cdrom" as const, bus: "sata" as const }] : []),
      // IDE: Debian's cloud kernel (real cloud images and the demo guest) has no AHCI driver.
      ...(storedCloudInit(vm.cloudInit) ? [{ path: seedVolumePath(vm, host), format: "raw" as const, device: "cdrom" as const, bus: "ide" as const }] : []),
    ],
    boot: isIso ? ["hd", "cdrom"] : ["hd"],
    network: { ...guestNetwork(vm), ...(bandwidth ? { bandwidth } : {}) },
    // This machine: no TCP port at all, only the console proxy (root) opens the display's socket.
    // Another host: TCP that its QEMU guards with TLS and client certificates (console/vnc-tls.ts),
    // on every address so the display follows the guest through a live migration.
    graphics: remote ? { listen: "0.0.0.0" } : { unixSocket: true },
    serialLogPath: serialLogPath(vm.domainName),
    // Another host: a pty, reached through libvirt's console stream (virDomainOpenConsole takes only ptys).
    ...(remote ? {} : { serialSocketPath: serialSocketPath(vm.domainName) }),
    ...tuning,
    // Firmware and vTPM come from the flavor (absent: BIOS, no TPM).
    ...(vm.tuning?.firmware === "uefi" ? { firmware: { type: "uefi" as const, secureBoot: vm.tuning.secureBoot } } : {}),
    ...(vm.tuning?.tpm ? { tpm: true } : {}),
    metadata: { vmId: vm.id, ownerId: vm.ownerId },
  };
}

/**
 * Class VMs: their class's isolated network, with the host guard. Personal VMs: the host's NAT
 * network with the personal filter. Never QEMU user-mode networking (the guest reaches the host's
 * loopback through it).
 */
export function guestNetwork(vm: VmRow): { type: "network"; name: string; filter: string; filterParameters?: Record<string, string> } {
  return vm.networkName
    ? { type: "network", name: vm.networkName, filter: HOST_GUARD_FILTER.name }
    : { type: "network", name: GUEST_NAT.name, filter: GUEST_FILTER.name, filterParameters: GUEST_FILTER_PARAMETERS };
}

export function domainXml(vm: VmRow, host: HostRow, image: ImageRow | null, diskPath: string): string {
  return buildDomainXml(domainSpec(vm, host, image, diskPath));
}
