/**
 * The one place that decides who may do what to which object (actions × roles × ownership).
 * tRPC procedures, REST endpoints (the same procedures) and, later, the console proxy all call
 * `authorize`. Reads additionally scope their queries with `vmScope` so a VM that is not yours is
 * simply not found.
 */
import { AppError } from "./errors.ts";

export type Role = "admin" | "teacher" | "tenant";

export interface Actor {
  id: string;
  role: Role;
  disabled?: boolean;
}

/** Every action the portal knows. "own" actions need the object's owner; "global" ones do not. */
export const ACTIONS = {
  "vm.create": "global",
  "vm.list": "global",
  "vm.listAll": "global",
  "vm.read": "own",
  "vm.start": "own",
  "vm.shutdown": "own",
  "vm.poweroff": "own",
  "vm.reboot": "own",
  "vm.pause": "own",
  "vm.resume": "own",
  "vm.delete": "own",
  "vm.console": "own",
  "operation.read": "own",
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
} as const;

export type Action = keyof typeof ACTIONS;

const VM_OWNER_ACTIONS: Action[] = [
  "vm.read",
  "vm.start",
  "vm.shutdown",
  "vm.poweroff",
  "vm.reboot",
  "vm.pause",
  "vm.resume",
  "vm.delete",
  "vm.console",
  "operation.read",
];

const SELF_SERVICE: Action[] = ["vm.create", "vm.list", "image.list", "quota.readOwn", "token.manageOwn"];

/** Which role may do which action, and whether it needs to own the object. */
const GRANTS: Record<Role, { any: ReadonlySet<Action>; own: ReadonlySet<Action> }> = {
  admin: { any: new Set(Object.keys(ACTIONS) as Action[]), own: new Set() },
  teacher: { any: new Set(SELF_SERVICE), own: new Set(VM_OWNER_ACTIONS) },
  tenant: { any: new Set(SELF_SERVICE), own: new Set(VM_OWNER_ACTIONS) },
};

export interface Target {
  ownerId: string;
}

/** Pure decision: may `actor` do `action` (to `target`, for object actions)? */
export function can(actor: Actor, action: Action, target?: Target): boolean {
  if (actor.disabled) return false;
  const grants = GRANTS[actor.role];
  if (grants.any.has(action)) return true;
  if (grants.own.has(action)) return target !== undefined && target.ownerId === actor.id;
  return false;
}

/**
 * Throws unless allowed. An object action on something the actor may not even see is NOT_FOUND (so
 * the existence of other people's VMs is not revealed); a global action is FORBIDDEN.
 */
export function authorize(actor: Actor, action: Action, target?: Target): void {
  if (can(actor, action, target)) return;
  if (ACTIONS[action] === "own" && target && !canSee(actor, target)) {
    throw new AppError("NOT_FOUND", "not found");
  }
  throw new AppError("FORBIDDEN", `you may not ${action.replace(".", " ")}`);
}

/** Whether the object is visible to the actor at all. */
export function canSee(actor: Actor, target: Target): boolean {
  return can(actor, "vm.read", target);
}

/**
 * The query filter that limits VM reads to what the actor may see. Returned as a plain object that
 * fits Prisma's `VmWhereInput`.
 */
export function vmScope(actor: Actor): { ownerId?: string } {
  return can(actor, "vm.listAll") ? {} : { ownerId: actor.id };
}
