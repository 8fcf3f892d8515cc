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

/**
 * What an API token may be used for: `read` (look), `vms` (act on VMs, consoles and classes), `admin`
 * (administer users, hosts, images, the audit log), `metrics` (scrape GET /metrics: a Prometheus
 * token needs nothing else). Browser sessions hold every scope their role allows.
 */
export const SCOPES = ["read", "vms", "admin", "metrics"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Actor {
  id: string;
  role: Role;
  disabled?: boolean;
  /** Present for API tokens: what this token may be used for. Absent: a browser session (all its role allows). */
  scopes?: readonly Scope[];
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
  /** Change a personal VM's vCPUs, memory or disk within quota. */
  "vm.resize": "vm",
  /** Live-migrate to another host (admins: it spends fleet capacity, and drains use it). */
  "vm.migrate": "vm",
  /** Mark a VM highly available (restarted on another host when its host dies) and set its priority. */
  "vm.ha": "vm",
  "operation.read": "vm",
  /** Extend a personal VM's lease (within its role's maximum). */
  "vm.lease": "vm",
  /** Set the lease policy: default days and maximum extension per role, warning and grace periods (admins). */
  "lease.manage": "global",
  /** See the flavors one may create VMs with (tenants: name, description and size; admins: every knob). */
  "flavor.list": "global",
  /** Define flavors and the pool of PCI devices they pass through (admins). */
  "flavor.manage": "global",
  "image.list": "global",
  "image.manage": "global",
  /** Upload an image: a tenant's stays private (counted in their imagesGiB quota), an admin's is public. */
  "image.upload": "global",
  /** Make a private image public (admins). */
  "image.publish": "global",
  "host.list": "global",
  "host.manage": "global",
  /** Choose the host of a new VM instead of letting placement choose (admins). */
  "host.pin": "global",
  "user.list": "global",
  "user.manage": "global",
  "quota.manage": "global",
  "quota.readOwn": "global",
  "audit.read": "global",
  /** Scrape the Prometheus exposition (every host's and VM's gauges: admins' view). */
  "metrics.scrape": "global",
  "token.manageOwn": "global",
  /** Keep one's own SSH public keys (offered to one's new VMs through cloud-init). */
  "sshKey.manageOwn": "global",
  "system.reconcile": "global",
  "class.create": "global",
  "class.list": "global",
  "class.join": "global",
  "class.read": "class",
  "class.manage": "class",
  /**
   * Look at a frozen class's submissions: boot a student's submission in a throwaway viewer, watch its
   * console (view-only), export every submitted disk. Its class's teachers (and admins) only: the
   * target is the class, never the student's VM, so the student who owns the VM is not among them.
   */
  "submission.view": "class",
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

const SELF_SERVICE: readonly Action[] = ["sshKey.manageOwn", "vm.create", "vm.list", "flavor.list", "image.list", "image.upload", "quota.readOwn", "token.manageOwn", "class.list", "class.join"];

const GLOBAL_GRANTS: Record<Exclude<Role, "admin">, ReadonlySet<Action>> = {
  teacher: new Set([...SELF_SERVICE, "class.create"]),
  tenant: new Set(SELF_SERVICE),
};

/** What an owner may do to a personal VM. */
const OWNER_VM_ACTIONS: ReadonlySet<Action> = new Set<Action>([
  "vm.read", "vm.start", "vm.shutdown", "vm.poweroff", "vm.reboot", "vm.pause", "vm.resume", "vm.delete", "vm.console", "operation.read", "vm.ha", "vm.lease",
  // Their own snapshots (services/snapshot-service.ts keeps these to personal VMs: a class VM's
  // snapshots are its class's checkpoints, reverted under the class's switch below).
  "vm.snapshot", "vm.revert", "vm.resize",
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

/**
 * Actions that only look, plus managing one's own tokens (a token can only ever mint tokens within its
 * own scope and lifetime, see `scopesForNewToken`).
 */
const READ_ACTIONS: ReadonlySet<Action> = new Set<Action>(["vm.list", "vm.read", "operation.read", "flavor.list", "image.list", "quota.readOwn", "class.list", "class.read", "token.manageOwn"]);

/**
 * The scope an API token needs for `action`: `metrics` for scraping, `admin` for what only admins may
 * ever do (reads included: the user list and audit log are not for a monitoring token), `read` for
 * looking, `vms` for the rest.
 * Derived rather than listed, so a new action is never left without one.
 */
export function scopeFor(action: Action): Scope {
  if (action === "metrics.scrape") return "metrics";
  const adminOnly = ACTIONS[action] === "global" && !GLOBAL_GRANTS.teacher.has(action) && !GLOBAL_GRANTS.tenant.has(action);
  if (adminOnly) return "admin";
  return READ_ACTIONS.has(action) ? "read" : "vms";
}

/** Every scope a role can hold: a session has exactly these, a token at most these. */
export function roleScopes(role: Role): readonly Scope[] {
  return role === "admin" ? SCOPES : ["read", "vms"];
}

/** The scopes `actor` holds now: a session's role scopes, or a token's own, narrowed to its owner's current role. */
export function effectiveScopes(actor: Actor): Scope[] {
  return roleScopes(actor.role).filter((s) => !actor.scopes || actor.scopes.includes(s));
}

export function hasScope(actor: Actor, scope: Scope): boolean {
  return effectiveScopes(actor).includes(scope);
}

/** The least a tRPC procedure needs before its own `authorize` calls run: reads `read`, changes `vms`, unless it declares otherwise. */
export function procedureScope(type: "query" | "mutation" | "subscription", declared?: Scope): Scope {
  return declared ?? (type === "mutation" ? "vms" : "read");
}

/** Throws FORBIDDEN unless the actor holds `scope` (a session: unless its role lacks it, e.g. admin for a tenant). */
export function authorizeScope(actor: Actor, scope: Scope): void {
  if (hasScope(actor, scope)) return;
  throw new AppError("FORBIDDEN", actor.scopes ? `this API token lacks the "${scope}" scope` : `your role does not allow "${scope}" actions`);
}

/**
 * The scopes of a token `creator` asks for: `requested` (default: all the creator holds), always with
 * `read`, in canonical order. Never more than the creator holds, so a token cannot widen itself by minting
 * another, and a session never beyond its role: FORBIDDEN otherwise.
 */
export function scopesForNewToken(creator: Actor, requested?: readonly Scope[]): Scope[] {
  const held = effectiveScopes(creator);
  const wanted = new Set<Scope>(requested ?? held);
  wanted.add("read");
  const beyond = [...wanted].filter((s) => !held.includes(s));
  if (beyond.length > 0) throw new AppError("FORBIDDEN", `you cannot grant a token scopes you do not hold: ${beyond.join(", ")}`);
  return SCOPES.filter((s) => wanted.has(s));
}

/** Pure decision: may `actor` do `action` (to `target`, for object actions)? A token also needs the action's scope. */
export function can(actor: Actor, action: Action, target?: Target): boolean {
  if (actor.scopes && !hasScope(actor, scopeFor(action))) return false;
  return roleMay(actor, action, target);
}

/** The role and relationship half of `can`, regardless of token scopes. */
function roleMay(actor: Actor, action: Action, target?: Target): boolean {
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

/**
 * A submission viewer (a teacher's read-only boot of a student's submission) as policy sees it: an
 * object of its class, decided by `submission.view`, never by the ownership of the student's VM.
 */
export function submissionViewerTarget(teacherIds: readonly string[]): Target {
  return { teacherIds };
}

/** The action a console needs: a submission viewer's is `submission.view`, every VM's `vm.console`. */
export function consoleAction(viewer: boolean): Action {
  return viewer ? "submission.view" : "vm.console";
}

/** Whether the object is visible to the actor at all (by role and relationship; token scopes do not hide things). */
export function canSee(actor: Actor, target: Target): boolean {
  return roleMay(actor, target.ownerId !== undefined ? "vm.read" : "class.read", target);
}

/**
 * Throws unless allowed. An object action on something the actor may not even see is NOT_FOUND (so
 * the existence of other people's VMs and classes is not revealed); otherwise FORBIDDEN, naming the
 * missing scope when the role would allow it but the token does not.
 */
export function authorize(actor: Actor, action: Action, target?: Target): void {
  if (can(actor, action, target)) return;
  if (ACTIONS[action] !== "global" && target && !canSee(actor, target)) {
    throw new AppError("NOT_FOUND", "not found");
  }
  if (roleMay(actor, action, target)) authorizeScope(actor, scopeFor(action));
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

/**
 * The query filter limiting image reads to what the actor may see and use: public images and their own
 * private uploads (all, for admins). A plain object that fits Prisma's `ImageWhereInput`.
 */
export function imageScope(actor: Actor): { OR?: Array<{ ownerId: string | null }> } {
  if (actor.role === "admin" && !actor.disabled) return {};
  return { OR: [{ ownerId: null }, { ownerId: actor.id }] };
}

/** The query filter limiting class reads to classes the actor teaches (all, for admins). */
export function classScope(actor: Actor): { teachers?: { some: { userId: string } } } {
  if (actor.role === "admin" && !actor.disabled) return {};
  return { teachers: { some: { userId: actor.id } } };
}
