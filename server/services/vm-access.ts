/**
 * How services and the console proxy load what the policy needs to decide about a VM: its owner and,
 * for class VMs, the class's teachers, switches and freeze.
 */
import type { ClassRules } from "../domain/classroom.ts";
import type { Target } from "../domain/policy.ts";

export const vmAccessSelect = {
  ownerId: true,
  class: {
    select: {
      frozenAt: true,
      studentsMayPower: true,
      studentsMayReset: true,
      studentsMayRevert: true,
      teachers: { select: { userId: true } },
    },
  },
} as const;

export interface VmAccessRow {
  ownerId: string;
  class: (ClassRules & { teachers: Array<{ userId: string }> }) | null;
}

export function vmTarget(vm: VmAccessRow): Target {
  if (!vm.class) return { ownerId: vm.ownerId };
  const { teachers, ...rules } = vm.class;
  return { ownerId: vm.ownerId, teacherIds: teachers.map((t) => t.userId), classRules: rules };
}
