/**
 * The one place that decides who may do what to which object (actions × roles × relationship).
 * tRPC procedures, REST endpoints (the same procedures) and the console proxy all call `can` /
 * `authorize`; reads are additionally scoped in the query with `vmScope` / `classScope`, so an
 * object that is not yours is simply not found.
 *
 * Relationships: the owner of a VM; a teacher of the VM's class (class owner and co-teachers); a
 * student owning a class VM, limited by the class's switches and its exam freeze.
 */
import { studentMay, type ClassRules, type StudentVmAction } from "./classroom.ts";
import { AppError } from "./errors.ts";

export type Role = "admin" | "teacher" | "tenant";

export interface Actor {
  id: string;
  role: Role;
  disabled?: boolean;
}

/**
 * Every action the portal knows. "global" actions need no object; "vm" actions take a VM target;
 * "class" actions take a class target.
 */
export const ACTIONS = {
  "vm.create": "global",
  "vm.list": "global",
  "vm.listAll": "global",
  "vm.read": "vm",
  "vm.start": "vm",
  "vm.shutdown": "vm",
  "vm.poweroff": "vm",
  "vm.reboot": "vm",
  "vm.pause": "vm",
  "vm.resume": "vm",
  "vm.delete": "vm",
  "vm.console": "vm",
  "vm.reset": "vm",
  "vm.revert": "vm",
  "vm.snapshot": "vm",
  "operation.read": "vm",
  "image.list": "global",
  "image.manage": "global",
  "host.list": "global",
  "host.manage": "global",
  "user.list": "global",
  "user.manage": "global",
  "quota.manage": "global",
  "quota.readOwn": "global",
  "audit.read": "global",
  "token.manageOwn": "global",
  "system.reconcile": "global",
  "class.create": "global",
  "class.list": "global",
  "class.join": "global",
  "class.read": "class",
  "class.manage": "class",
} as const;

export type Action = keyof typeof ACTIONS;

/** A VM, or a class, as policy sees it. */
export interface Target {
  /** The VM's owner (for a class VM: the student). */
  ownerId?: string;
  /** Teachers of the class the object belongs to (class owner included). */
  teacherIds?: readonly string[];
  /** Present for class VMs: what the class lets its students do. */
  classRules?: ClassRules | null;
}

const SELF_SERVICE: readonly Action[] = ["vm.create", "vm.list", "image.list", "quota.readOwn", "token.manageOwn", "class.list", "class.join"];

const GLOBAL_GRANTS: Record<Exclude<Role, "admin">, ReadonlySet<Action>> = {
  teacher: new Set([...SELF_SERVICE, "class.create"]),
  tenant: new Set(SELF_SERVICE),
};

/** What an owner may do to a personal VM. */
const OWNER_VM_ACTIONS: ReadonlySet<Action> = new Set<Action>([
  "vm.read", "vm.start", "vm.shutdown", "vm.poweroff", "vm.reboot", "vm.pause", "vm.resume", "vm.delete", "vm.console", "operation.read",
]);

/** What a teacher may do to any VM of their class. */
const TEACHER_VM_ACTIONS: ReadonlySet<Action> = new Set<Action>([...OWNER_VM_ACTIONS, "vm.reset", "vm.revert", "vm.snapshot"]);

/** A student's class VM: which class switch governs each action (null: always allowed, "never": never). */
const STUDENT_VM_ACTIONS: Partial<Record<Action, StudentVmAction | null>> = {
  "vm.read": null,
  "operation.read": null,
  "vm.start": "start",
  "vm.shutdown": "shutdown",
  "vm.poweroff": "poweroff",
  "vm.reboot": "reboot",
  "vm.pause": "shutdown",
  "vm.resume": "start",
  "vm.reset": "reset",
  "vm.revert": "revert",
  "vm.console": "console",
};

/** Pure decision: may `actor` do `action` (to `target`, for object actions)? */
export function can(actor: Actor, action: Action, target?: Target): boolean {
  if (actor.disabled) return false;
  if (actor.role === "admin") return true;
  const kind = ACTIONS[action];
  if (kind === "global") return GLOBAL_GRANTS[actor.role].has(action);
  if (!target) return false;
  const teaches = actor.role === "teacher" && (target.teacherIds?.includes(actor.id) ?? false);
  if (kind === "class") return teaches;
  if (teaches) return TEACHER_VM_ACTIONS.has(action);
  if (target.ownerId !== actor.id) return false;
  if (!target.classRules) return OWNER_VM_ACTIONS.has(action);
  if (!(action in STUDENT_VM_ACTIONS)) return false;
  const governedBy = STUDENT_VM_ACTIONS[action];
  return governedBy === null || governedBy === undefined ? governedBy === null : studentMay(target.classRules, governedBy);
}

/** Whether the object is visible to the actor at all. */
export function canSee(actor: Actor, target: Target): boolean {
  return can(actor, target.ownerId !== undefined ? "vm.read" : "class.read", target);
}

/**
 * Throws unless allowed. An object action on something the actor may not even see is NOT_FOUND (so
 * the existence of other people's VMs and classes is not revealed); otherwise FORBIDDEN.
 */
export function authorize(actor: Actor, action: Action, target?: Target): void {
  if (can(actor, action, target)) return;
  if (ACTIONS[action] !== "global" && target && !canSee(actor, target)) {
    throw new AppError("NOT_FOUND", "not found");
  }
  throw new AppError("FORBIDDEN", `you may not ${action.replace(".", " ")}`);
}

/**
 * The query filter limiting VM reads to what the actor may see: their own VMs and, for teachers, the
 * VMs of classes they teach. A plain object that fits Prisma's `VmWhereInput`; empty for admins.
 */
export function vmScope(actor: Actor): { OR?: Array<Record<string, unknown>> } {
  if (actor.role === "admin" && !actor.disabled) return {};
  if (actor.role === "teacher") return { OR: [{ ownerId: actor.id }, { class: { teachers: { some: { userId: actor.id } } } }] };
  return { OR: [{ ownerId: actor.id }] };
}

/** The query filter limiting class reads to classes the actor teaches (all, for admins). */
export function classScope(actor: Actor): { teachers?: { some: { userId: string } } } {
  if (actor.role === "admin" && !actor.disabled) return {};
  return { teachers: { some: { userId: actor.id } } };
}
