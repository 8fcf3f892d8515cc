/** zod schemas of flavors and the PCI passthrough pool: every knob bounded (domain/flavor.ts FLAVOR_LIMITS). */
import { z } from "zod";
import { FIRMWARES, FLAVOR_LIMITS as L, HUGEPAGE_SIZES_KIB, NODESET, NUMA_MODES, PCI_ADDRESS } from "../domain/flavor.ts";
import { ZId, ZLineText, ZName } from "./schemas.ts";

const int = (b: { min: number; max: number }) => z.number().int().min(b.min).max(b.max);
const optionalLimit = (b: { min: number; max: number }, what: string) => int(b).nullable().optional().describe(`${what} (null: unlimited)`);

export const ZFlavorTuning = z.object({
  dedicatedCpus: z.boolean().optional().describe("each vCPU on a pCPU of its own (vcpupin + emulatorpin; pCPUs allocated per host, placement skips hosts without enough)"),
  numaNodes: int(L.numaNodes).optional().describe("guest NUMA cells (0: none); vCPUs and memory split evenly"),
  numaMode: z.enum(NUMA_MODES).nullable().optional().describe("<numatune> memory mode (null: none); needs numaNodeset"),
  numaNodeset: z.string().regex(NODESET, 'host NUMA nodes such as "0", "0-1", "0,2"').nullable().optional(),
  hugepagesKiB: z
    .number()
    .int()
    .refine((v) => (HUGEPAGE_SIZES_KIB as readonly number[]).includes(v), `one of ${HUGEPAGE_SIZES_KIB.join(", ")}`)
    .nullable()
    .optional()
    .describe("back the memory with huge pages of this size in KiB (2048 or 1048576; placement checks the host has them free)"),
  cpuShares: optionalLimit(L.cpuShares, "relative CPU weight (<cputune><shares>)"),
  cpuPeriodUs: optionalLimit(L.cpuPeriodUs, "CFS period per vCPU in µs (<cputune><period>)"),
  cpuQuotaUs: optionalLimit(L.cpuQuotaUs, "CFS quota per vCPU in µs per period (<cputune><quota>)"),
  diskTotalIops: optionalLimit(L.iops, "disk IOPS, read + write (<iotune>)"),
  diskReadIops: optionalLimit(L.iops, "disk read IOPS"),
  diskWriteIops: optionalLimit(L.iops, "disk write IOPS"),
  diskTotalBytesSec: optionalLimit(L.bytesSec, "disk bytes/s, read + write"),
  diskReadBytesSec: optionalLimit(L.bytesSec, "disk read bytes/s"),
  diskWriteBytesSec: optionalLimit(L.bytesSec, "disk write bytes/s"),
  netInAverageKiBs: optionalLimit(L.netKiBs, "inbound average KiB/s (<bandwidth><inbound>)"),
  netInPeakKiBs: optionalLimit(L.netKiBs, "inbound peak KiB/s"),
  netInBurstKiB: optionalLimit(L.netKiBs, "inbound burst KiB"),
  netOutAverageKiBs: optionalLimit(L.netKiBs, "outbound average KiB/s (<bandwidth><outbound>)"),
  netOutPeakKiBs: optionalLimit(L.netKiBs, "outbound peak KiB/s"),
  netOutBurstKiB: optionalLimit(L.netKiBs, "outbound burst KiB"),
  firmware: z.enum(FIRMWARES).optional().describe("bios (SeaBIOS) or uefi (OVMF)"),
  secureBoot: z.boolean().optional().describe("UEFI Secure Boot (needs firmware uefi)"),
  tpm: z.boolean().optional().describe("a TPM 2.0 (swtpm)"),
});

const flavorFields = {
  name: ZName,
  description: ZLineText(500).optional(),
  public: z.boolean().optional().describe("private flavors are listed and usable by admins only (default true)"),
  vcpus: int(L.vcpus),
  memoryMiB: int(L.memoryMiB),
  diskGiB: int(L.diskGiB),
  tuning: ZFlavorTuning.optional(),
  hostDeviceIds: z.array(z.string().uuid("must be a UUID")).max(L.hostDevices.max).optional().describe("PCI devices from the pool (GET /host-devices) passed through to the VM on the host that has them"),
};

export const ZCreateFlavorInput = z.object(flavorFields);
export const ZUpdateFlavorInput = ZId.extend(z.object(flavorFields).partial().shape);

const n = z.number().nullable();
const ZTuningOut = z.object({
  dedicatedCpus: z.boolean(), numaNodes: z.number(), numaMode: z.enum(NUMA_MODES).nullable(), numaNodeset: z.string().nullable(), hugepagesKiB: n,
  cpuShares: n, cpuPeriodUs: n, cpuQuotaUs: n,
  diskTotalIops: n, diskReadIops: n, diskWriteIops: n, diskTotalBytesSec: n, diskReadBytesSec: n, diskWriteBytesSec: n,
  netInAverageKiBs: n, netInPeakKiBs: n, netInBurstKiB: n, netOutAverageKiBs: n, netOutPeakKiBs: n, netOutBurstKiB: n,
  firmware: z.enum(FIRMWARES), secureBoot: z.boolean(), tpm: z.boolean(),
});

export const ZFlavor = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  vcpus: z.number(),
  memoryMiB: z.number(),
  diskGiB: z.number(),
  public: z.boolean().optional().describe("admins only"),
  vmCount: z.number().optional().describe("admins only: VMs using it"),
  tuning: ZTuningOut.optional().describe("admins only: every knob"),
  hostDevices: z
    .array(z.object({ id: z.string(), pciAddress: z.string(), description: z.string(), host: z.object({ id: z.string(), name: z.string() }) }))
    .optional()
    .describe("admins only"),
  createdAt: z.date().optional(),
  updatedAt: z.date().optional(),
});

export const ZCreateHostDeviceInput = z.object({
  hostId: z.string().uuid("must be a UUID"),
  pciAddress: z.string().regex(PCI_ADDRESS, "domain:bus:slot.function, e.g. 0000:65:00.0"),
  description: ZLineText(200).optional(),
});

export const ZHostDevice = z.object({
  id: z.string(),
  pciAddress: z.string(),
  description: z.string(),
  createdAt: z.date(),
  host: z.object({ id: z.string(), name: z.string() }),
  flavors: z.array(z.object({ id: z.string(), name: z.string() })),
});
