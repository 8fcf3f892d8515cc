/**
 * How services and the console proxy load what the policy needs to decide about a VM: its owner and,
 * for class VMs, the class's teachers, switches and freeze.
 */
import type { ClassRules } from "../domain/classroom.ts";
import { consoleAction, submissionViewerTarget, type Action, type Target } from "../domain/policy.ts";

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

/**
 * What a console session must be allowed, and on what: `vm.console` on the VM, or, for a submission
 * viewer, `submission.view` on its class (the student who owns the VM is not its class's teacher).
 */
export function consoleTarget(vm: VmAccessRow & { viewer?: boolean }): { action: Action; target: Target } {
  if (vm.viewer) return { action: consoleAction(true), target: submissionViewerTarget(vm.class?.teachers.map((t) => t.userId) ?? []) };
  return { action: consoleAction(false), target: vmTarget(vm) };
}
