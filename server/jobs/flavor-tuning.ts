/**
 * A VM's flavor tuning as the worker defines it: the flavor row's knobs, the PCI devices of the
 * flavor that live on the VM's host, and the pCPUs the VM holds there. Read at every define, so a
 * redefinition (start after a networking upgrade, reset, resize) always carries the current tuning.
 */
import type { Prisma } from "../../prisma/generated/client.ts";
import type { Firmware, NumaMode } from "../domain/flavor.ts";
import type { VmTuning } from "./vm-layout.ts";

export const flavorTuningSelect = {
  dedicatedCpus: true,
  numaNodes: true,
  numaMode: true,
  numaNodeset: true,
  hugepagesKiB: true,
  cpuShares: true,
  cpuPeriodUs: true,
  cpuQuotaUs: true,
  diskTotalIops: true,
  diskReadIops: true,
  diskWriteIops: true,
  diskTotalBytesSec: true,
  diskReadBytesSec: true,
  diskWriteBytesSec: true,
  netInAverageKiBs: true,
  netInPeakKiBs: true,
  netInBurstKiB: true,
  netOutAverageKiBs: true,
  netOutPeakKiBs: true,
  netOutBurstKiB: true,
  firmware: true,
  secureBoot: true,
  tpm: true,
  hostDevices: { select: { hostDevice: { select: { hostId: true, pciAddress: true } } } },
} as const satisfies Prisma.FlavorSelect;

/** What the worker selects on a VM row to build its tuning. */
export const vmTuningSelect = {
  flavor: { select: flavorTuningSelect },
  cpuAllocations: { select: { hostId: true, pcpu: true }, orderBy: { pcpu: "asc" } },
} as const satisfies Prisma.VmSelect;

type FlavorTuningRow = Prisma.FlavorGetPayload<{ select: typeof flavorTuningSelect }>;

/** null without a flavor; pCPUs and devices only those on `hostId` (a VM's own host). */
export function vmTuning(flavor: FlavorTuningRow | null, allocations: ReadonlyArray<{ hostId: string; pcpu: number }>, hostId: string): VmTuning | null {
  if (!flavor) return null;
  const { hostDevices, ...knobs } = flavor;
  return {
    ...knobs,
    numaMode: knobs.numaMode as NumaMode | null,
    firmware: (knobs.firmware === "uefi" ? "uefi" : "bios") as Firmware,
    hostDevices: hostDevices.filter((d) => d.hostDevice.hostId === hostId).map((d) => d.hostDevice.pciAddress),
    pcpus: allocations.filter((a) => a.hostId === hostId).map((a) => a.pcpu),
  };
}
