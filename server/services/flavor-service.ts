/**
 * Flavors and the PCI passthrough pool (admins manage; everyone lists). Tenants see a flavor's name,
 * description and size, never its knobs: those are host internals. A flavor in use keeps its size
 * and tuning (VMs read their tuning from it at every define, so changing it would change them
 * silently); an admin makes a new flavor instead, and deletes one only when no VM uses it.
 */
import { Prisma } from "../../prisma/generated/client.ts";
import { AppError } from "../domain/errors.ts";
import { flavorProblem, formatPciAddress, NO_TUNING, parsePciAddress, tuningChanges, type FlavorTuning, type Firmware, type NumaMode } from "../domain/flavor.ts";
import { authorize, can } from "../domain/policy.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import type { Tx, Db } from "../db/client.ts";

const flavorSelect = {
  id: true, name: true, description: true, public: true, vcpus: true, memoryMiB: true, diskGiB: true,
  dedicatedCpus: true, numaNodes: true, numaMode: true, numaNodeset: true, hugepagesKiB: true, cpuShares: true, cpuPeriodUs: true, cpuQuotaUs: true,
  diskTotalIops: true, diskReadIops: true, diskWriteIops: true, diskTotalBytesSec: true, diskReadBytesSec: true, diskWriteBytesSec: true,
  netInAverageKiBs: true, netInPeakKiBs: true, netInBurstKiB: true, netOutAverageKiBs: true, netOutPeakKiBs: true, netOutBurstKiB: true,
  firmware: true, secureBoot: true, tpm: true, createdAt: true, updatedAt: true,
  hostDevices: { select: { hostDevice: { select: { id: true, pciAddress: true, description: true, host: { select: { id: true, name: true } } } } } },
  _count: { select: { vms: { where: { deletedAt: null } } } },
} as const satisfies Prisma.FlavorSelect;

type FlavorRow = Prisma.FlavorGetPayload<{ select: typeof flavorSelect }>;

/** The knobs as the API takes and shows them (byte rates as numbers: ≤ 100 GiB/s fits a double exactly). */
export type TFlavorTuningInput = Omit<FlavorTuning, "hostDevices" | "diskTotalBytesSec" | "diskReadBytesSec" | "diskWriteBytesSec"> & {
  diskTotalBytesSec: number | null;
  diskReadBytesSec: number | null;
  diskWriteBytesSec: number | null;
};

export interface TFlavorInput {
  name: string;
  description?: string;
  public?: boolean;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  tuning?: Partial<TFlavorTuningInput>;
  hostDeviceIds?: string[];
}

const SIZE_KEYS = ["vcpus", "memoryMiB", "diskGiB"] as const;

function tuningOf(f: FlavorRow): TFlavorTuningInput {
  const n = (v: bigint | null) => (v === null ? null : Number(v));
  return {
    dedicatedCpus: f.dedicatedCpus, numaNodes: f.numaNodes, numaMode: f.numaMode as NumaMode | null, numaNodeset: f.numaNodeset, hugepagesKiB: f.hugepagesKiB,
    cpuShares: f.cpuShares, cpuPeriodUs: f.cpuPeriodUs, cpuQuotaUs: f.cpuQuotaUs,
    diskTotalIops: f.diskTotalIops, diskReadIops: f.diskReadIops, diskWriteIops: f.diskWriteIops,
    diskTotalBytesSec: n(f.diskTotalBytesSec), diskReadBytesSec: n(f.diskReadBytesSec), diskWriteBytesSec: n(f.diskWriteBytesSec),
    netInAverageKiBs: f.netInAverageKiBs, netInPeakKiBs: f.netInPeakKiBs, netInBurstKiB: f.netInBurstKiB,
    netOutAverageKiBs: f.netOutAverageKiBs, netOutPeakKiBs: f.netOutPeakKiBs, netOutBurstKiB: f.netOutBurstKiB,
    firmware: f.firmware as Firmware, secureBoot: f.secureBoot, tpm: f.tpm,
  };
}

/** A flavor as `ctx.actor` may see it: the size for everyone, the knobs and devices for admins. */
function flavorView(ctx: ServiceContext, f: FlavorRow) {
  const summary = { id: f.id, name: f.name, description: f.description, vcpus: f.vcpus, memoryMiB: f.memoryMiB, diskGiB: f.diskGiB };
  if (!can(ctx.actor, "flavor.manage")) return summary;
  return {
    ...summary,
    public: f.public,
    vmCount: f._count.vms,
    tuning: tuningOf(f),
    hostDevices: f.hostDevices.map((d) => ({ id: d.hostDevice.id, pciAddress: d.hostDevice.pciAddress, description: d.hostDevice.description, host: d.hostDevice.host })),
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
  };
}

/** Public flavors (admins: all), by size then name. */
export async function listFlavors(ctx: ServiceContext) {
  authorize(ctx.actor, "flavor.list");
  const where = can(ctx.actor, "flavor.manage") ? {} : { public: true };
  const rows = await ctx.db.flavor.findMany({ where, select: flavorSelect, orderBy: [{ vcpus: "asc" }, { memoryMiB: "asc" }, { name: "asc" }] });
  return rows.map((f) => flavorView(ctx, f));
}

/** A flavor the actor may use (a private one is not found for non-admins): its size and tuning. */
export async function usableFlavorOrThrow(ctx: ServiceContext, db: Db | Tx, id: string) {
  const f = await flavorSizeAndTuning(db, id, can(ctx.actor, "flavor.manage") ? {} : { public: true });
  if (!f) throw new AppError("NOT_FOUND", "flavor not found");
  return f;
}

/** A flavor's size and tuning whoever may see it (the flavor a VM already has, for comparing). */
export async function flavorSizeAndTuning(db: Db | Tx, id: string, scope: { public?: true } = {}) {
  const f = await db.flavor.findFirst({ where: { id, ...scope }, select: flavorSelect });
  return f ? { id: f.id, name: f.name, vcpus: f.vcpus, memoryMiB: f.memoryMiB, diskGiB: f.diskGiB, tuning: fullTuning(f) } : null;
}

/** The tuning of a flavor row, devices by PCI address (for comparing two flavors). */
function fullTuning(f: FlavorRow): FlavorTuning {
  const t = tuningOf(f);
  const big = (v: number | null) => (v === null ? null : BigInt(v));
  return {
    ...t,
    diskTotalBytesSec: big(t.diskTotalBytesSec), diskReadBytesSec: big(t.diskReadBytesSec), diskWriteBytesSec: big(t.diskWriteBytesSec),
    hostDevices: f.hostDevices.map((d) => `${d.hostDevice.host.id}/${d.hostDevice.pciAddress}`),
  };
}

function checked(size: { vcpus: number; memoryMiB: number }, tuning: TFlavorTuningInput): void {
  const big = (v: number | null) => (v === null ? null : BigInt(v));
  const problem = flavorProblem({ ...size, ...tuning, diskTotalBytesSec: big(tuning.diskTotalBytesSec), diskReadBytesSec: big(tuning.diskReadBytesSec), diskWriteBytesSec: big(tuning.diskWriteBytesSec) });
  if (problem) throw new AppError("BAD_REQUEST", problem);
}

function dataOf(tuning: TFlavorTuningInput) {
  const big = (v: number | null) => (v === null ? null : BigInt(v));
  return { ...tuning, diskTotalBytesSec: big(tuning.diskTotalBytesSec), diskReadBytesSec: big(tuning.diskReadBytesSec), diskWriteBytesSec: big(tuning.diskWriteBytesSec) };
}

const DEFAULT_TUNING: TFlavorTuningInput = (({ hostDevices, ...knobs }) => ({ ...knobs, diskTotalBytesSec: null, diskReadBytesSec: null, diskWriteBytesSec: null }))(NO_TUNING);

async function checkHostDevices(db: Db | Tx, ids: readonly string[]): Promise<void> {
  const found = await db.hostDevice.count({ where: { id: { in: [...ids] } } });
  if (found !== new Set(ids).size) throw new AppError("BAD_REQUEST", "hostDeviceIds names a device that is not in the pool", { field: "hostDeviceIds" });
}

function conflictOnName(err: unknown, name: string): never {
  if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") throw new AppError("CONFLICT", `a flavor named "${name}" exists`);
  throw err;
}

export async function createFlavor(ctx: ServiceContext, input: TFlavorInput) {
  authorize(ctx.actor, "flavor.manage");
  const tuning = { ...DEFAULT_TUNING, ...input.tuning };
  checked(input, tuning);
  const deviceIds = input.hostDeviceIds ?? [];
  await checkHostDevices(ctx.db, deviceIds);
  const created = await ctx.db.flavor
    .create({
      data: {
        name: input.name, description: input.description ?? "", public: input.public ?? true,
        vcpus: input.vcpus, memoryMiB: input.memoryMiB, diskGiB: input.diskGiB, ...dataOf(tuning),
        hostDevices: { create: [...new Set(deviceIds)].map((hostDeviceId) => ({ hostDeviceId })) },
      },
      select: flavorSelect,
    })
    .catch((err: unknown) => conflictOnName(err, input.name));
  await auditAs(ctx, { action: "flavor.create", targetType: "flavor", targetId: created.id, result: "ok", detail: { ...input } });
  return flavorView(ctx, created);
}

/**
 * Name, description and visibility change any time; size, tuning and devices only while no VM uses
 * the flavor (409 otherwise: make a new flavor and resize the VMs to it).
 */
export async function updateFlavor(ctx: ServiceContext, id: string, patch: Partial<TFlavorInput>) {
  authorize(ctx.actor, "flavor.manage");
  const current = await ctx.db.flavor.findUnique({ where: { id }, select: flavorSelect });
  if (!current) throw new AppError("NOT_FOUND", "flavor not found");
  const size = { vcpus: patch.vcpus ?? current.vcpus, memoryMiB: patch.memoryMiB ?? current.memoryMiB, diskGiB: patch.diskGiB ?? current.diskGiB };
  const tuning = { ...tuningOf(current), ...patch.tuning };
  const before = fullTuning(current);
  const deviceIds = patch.hostDeviceIds ?? current.hostDevices.map((d) => d.hostDevice.id);
  const sizeChanged = SIZE_KEYS.some((k) => size[k] !== current[k]);
  const devicesChanged = [...deviceIds].sort().join() !== current.hostDevices.map((d) => d.hostDevice.id).sort().join();
  const knobsChanged = tuningChanges(before, { ...before, ...dataOf(tuning) }).length > 0;
  if ((sizeChanged || devicesChanged || knobsChanged) && current._count.vms > 0) {
    throw new AppError("CONFLICT", `flavor "${current.name}" is used by ${current._count.vms} VM${current._count.vms === 1 ? "" : "s"}: its size and tuning are fixed (create a new flavor and resize them to it)`);
  }
  checked(size, tuning);
  await checkHostDevices(ctx.db, deviceIds);
  const updated = await ctx.db.flavor
    .update({
      where: { id },
      data: {
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.public !== undefined ? { public: patch.public } : {}),
        ...size,
        ...dataOf(tuning),
        ...(devicesChanged ? { hostDevices: { deleteMany: {}, create: [...new Set(deviceIds)].map((hostDeviceId) => ({ hostDeviceId })) } } : {}),
      },
      select: flavorSelect,
    })
    .catch((err: unknown) => conflictOnName(err, patch.name ?? current.name));
  await auditAs(ctx, { action: "flavor.update", targetType: "flavor", targetId: id, result: "ok", detail: { ...patch } });
  return flavorView(ctx, updated);
}

/** 409 while a VM uses it; deleted VMs forget it. */
export async function deleteFlavor(ctx: ServiceContext, id: string) {
  authorize(ctx.actor, "flavor.manage");
  await ctx.db.$transaction(async (tx) => {
    const f = await tx.flavor.findUnique({ where: { id }, select: { name: true, _count: { select: { vms: { where: { deletedAt: null } } } } } });
    if (!f) throw new AppError("NOT_FOUND", "flavor not found");
    if (f._count.vms > 0) throw new AppError("CONFLICT", `flavor "${f.name}" is used by ${f._count.vms} VM${f._count.vms === 1 ? "" : "s"}`);
    await tx.vm.updateMany({ where: { flavorId: id, deletedAt: { not: null } }, data: { flavorId: null } });
    await tx.flavor.delete({ where: { id } });
  });
  await auditAs(ctx, { action: "flavor.delete", targetType: "flavor", targetId: id, result: "ok" });
  return { id, deleted: true };
}

const hostDeviceSelect = {
  id: true, pciAddress: true, description: true, createdAt: true,
  host: { select: { id: true, name: true } },
  flavors: { select: { flavor: { select: { id: true, name: true } } } },
} as const satisfies Prisma.HostDeviceSelect;

function hostDeviceView(d: Prisma.HostDeviceGetPayload<{ select: typeof hostDeviceSelect }>) {
  return { id: d.id, pciAddress: d.pciAddress, description: d.description, createdAt: d.createdAt, host: d.host, flavors: d.flavors.map((f) => f.flavor) };
}

/** The PCI passthrough pool (admins). */
export async function listHostDevices(ctx: ServiceContext) {
  authorize(ctx.actor, "flavor.manage");
  const rows = await ctx.db.hostDevice.findMany({ select: hostDeviceSelect, orderBy: [{ host: { name: "asc" } }, { pciAddress: "asc" }] });
  return rows.map(hostDeviceView);
}

export async function createHostDevice(ctx: ServiceContext, input: { hostId: string; pciAddress: string; description?: string }) {
  authorize(ctx.actor, "flavor.manage");
  const address = parsePciAddress(input.pciAddress);
  if (!address) throw new AppError("BAD_REQUEST", "pciAddress must be domain:bus:slot.function (0000:65:00.0)", { field: "pciAddress" });
  if (!(await ctx.db.host.findUnique({ where: { id: input.hostId }, select: { id: true } }))) throw new AppError("NOT_FOUND", "host not found");
  const pciAddress = formatPciAddress(address);
  const created = await ctx.db.hostDevice
    .create({ data: { hostId: input.hostId, pciAddress, description: input.description ?? "" }, select: hostDeviceSelect })
    .catch((err: unknown) => {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") throw new AppError("CONFLICT", `device ${pciAddress} of this host is already in the pool`);
      throw err;
    });
  await auditAs(ctx, { action: "hostDevice.create", targetType: "hostDevice", targetId: created.id, result: "ok", detail: { ...input, pciAddress } });
  return hostDeviceView(created);
}

/** 409 while a flavor passes it through. */
export async function deleteHostDevice(ctx: ServiceContext, id: string) {
  authorize(ctx.actor, "flavor.manage");
  const d = await ctx.db.hostDevice.findUnique({ where: { id }, select: hostDeviceSelect });
  if (!d) throw new AppError("NOT_FOUND", "device not found");
  if (d.flavors.length > 0) throw new AppError("CONFLICT", `device ${d.pciAddress} is passed through by flavor ${d.flavors.map((f) => `"${f.flavor.name}"`).join(", ")}`);
  await ctx.db.hostDevice.delete({ where: { id } });
  await auditAs(ctx, { action: "hostDevice.delete", targetType: "hostDevice", targetId: id, result: "ok" });
  return { id, deleted: true };
}
