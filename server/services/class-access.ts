/**
 * What every class use-case shares: the columns a class is read with, its API shape (the ledger
 * columns become `budget`), and the scoped load that makes another teacher's class simply not found.
 */
import type { Prisma } from "../../prisma/generated/client.ts";
import { AppError } from "../domain/errors.ts";
import { authorize, classScope, type Target } from "../domain/policy.ts";
import type { ResourceAmounts } from "../domain/quota.ts";
import type { ServiceContext } from "./context.ts";

export const classSelect = {
  id: true,
  name: true,
  ownerId: true,
  termStart: true,
  termEnd: true,
  vcpus: true,
  memoryMiB: true,
  diskGiB: true,
  isolatedNetwork: true,
  maxVms: true,
  maxVcpus: true,
  maxMemoryMiB: true,
  maxDiskGiB: true,
  usedVms: true,
  usedVcpus: true,
  usedMemoryMiB: true,
  usedDiskGiB: true,
  studentsMayPower: true,
  studentsMayReset: true,
  studentsMayRevert: true,
  joinCode: true,
  preStartMinutes: true,
  freezeAt: true,
  frozenAt: true,
  expiresAt: true,
  expiryWarnDays: true,
  expiredAt: true,
  createdAt: true,
  image: { select: { id: true, name: true, hostId: true, shared: true } },
  teachers: { select: { user: { select: { id: true, username: true } } } },
} as const;

export type ClassRow = Prisma.ClassGetPayload<{ select: typeof classSelect }>;

export function budgetOf(c: ClassRow): { limits: ResourceAmounts; used: ResourceAmounts } {
  return {
    limits: { vms: c.maxVms, vcpus: c.maxVcpus, memoryMiB: c.maxMemoryMiB, diskGiB: c.maxDiskGiB },
    used: { vms: c.usedVms, vcpus: c.usedVcpus, memoryMiB: c.usedMemoryMiB, diskGiB: c.usedDiskGiB },
  };
}

function classTarget(c: { teachers: Array<{ user: { id: string } }> }): Target {
  return { teacherIds: c.teachers.map((t) => t.user.id) };
}

/** The API's view of a class: the ledger columns become `budget`, teachers become users. */
export function shape(c: ClassRow) {
  const { teachers, maxVms: _mv, maxVcpus: _mc, maxMemoryMiB: _mm, maxDiskGiB: _md, usedVms: _uv, usedVcpus: _uc, usedMemoryMiB: _um, usedDiskGiB: _ud, ...rest } = c;
  return { ...rest, teachers: teachers.map((t) => t.user), budget: budgetOf(c) };
}

/** Loads a class the caller teaches (or any, for admins), or 404. */
export async function loadClass(ctx: ServiceContext, id: string, action: "class.read" | "class.manage" | "submission.view" = "class.read"): Promise<ClassRow> {
  const c = await ctx.db.class.findFirst({ where: { id, ...classScope(ctx.actor) }, select: classSelect });
  if (!c) throw new AppError("NOT_FOUND", "class not found");
  authorize(ctx.actor, action, classTarget(c));
  return c;
}
