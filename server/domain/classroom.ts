/**
 * Pure rules for virtual-lab classrooms: roster parsing, the provisioning preview (budget and host
 * capacity, with a concrete reason for anything that will not fit), and what students may do to
 * their own class VM.
 */
import { describeExcess, quotaExcesses, sumCosts, type ResourceAmounts } from "./quota.ts";

export interface RosterRow {
  username: string;
  displayName: string;
  email: string;
}

export interface RosterParse {
  rows: RosterRow[];
  errors: Array<{ line: number; message: string }>;
}

const USERNAME = /^[a-zA-Z0-9._-]{2,64}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Roster bounds. Every new account costs a password hash and a database row, so one request may add at
 * most ROSTER_MAX_STUDENTS students (larger classes import in several pastes); a line longer than any
 * real `username,name,email` is refused rather than stored.
 */
export const ROSTER_MAX_STUDENTS = 500;
export const ROSTER_MAX_LINE_CHARS = 300;
/** The whole pasted roster: 500 lines of a generous 200 characters. */
export const ROSTER_MAX_CHARS = 100_000;
export const ROSTER_MAX_NAME_CHARS = 100;
/** Errors listed in full; more are counted ("… and 37 more"), so a hostile paste cannot bloat the answer. */
export const ROSTER_MAX_ERRORS = 20;

/**
 * Parses a pasted roster: one student per line, `username[,name[,email]]` (comma, semicolon or tab
 * separated); a header line starting with "username" and blank lines are skipped; duplicates are
 * reported, not silently merged. More than ROSTER_MAX_STUDENTS rows is an error of its own.
 */
export function parseRoster(text: string): RosterParse {
  const rows: RosterRow[] = [];
  const errors: RosterParse["errors"] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    if (line.length > ROSTER_MAX_LINE_CHARS) {
      errors.push({ line: i + 1, message: `longer than ${ROSTER_MAX_LINE_CHARS} characters` });
      return;
    }
    const cells = line.split(/[,;\t]/).map((c) => c.trim().replace(/^"(.*)"$/, "$1"));
    const [username = "", displayName = "", email = ""] = cells;
    if (i === 0 && username.toLowerCase() === "username") return;
    if (!USERNAME.test(username)) {
      errors.push({ line: i + 1, message: `"${username.slice(0, 64)}" is not a valid username (2–64 letters, digits, . _ -)` });
      return;
    }
    if (displayName.length > ROSTER_MAX_NAME_CHARS || CONTROL.test(displayName)) {
      errors.push({ line: i + 1, message: `the name must be at most ${ROSTER_MAX_NAME_CHARS} characters without control characters` });
      return;
    }
    if (email && (email.length > 254 || !/^[^@\s]+@[^@\s]+$/.test(email))) {
      errors.push({ line: i + 1, message: `"${email.slice(0, 64)}" is not an email address` });
      return;
    }
    const key = username.toLowerCase();
    if (seen.has(key)) {
      errors.push({ line: i + 1, message: `${username} is listed twice` });
      return;
    }
    seen.add(key);
    rows.push({ username, displayName, email });
  });
  return { rows, errors };
}

/** One line for a 400: the first ROSTER_MAX_ERRORS problems, then how many more. */
export function describeRosterErrors(errors: RosterParse["errors"]): string {
  const shown = errors.slice(0, ROSTER_MAX_ERRORS).map((e) => `line ${e.line}: ${e.message}`);
  const more = errors.length - shown.length;
  return `roster: ${shown.join("; ")}${more > 0 ? `; … and ${more} more` : ""}`;
}

/** Null when `count` students fit one request, else the reason. */
export function rosterTooLarge(count: number): string | null {
  return count > ROSTER_MAX_STUDENTS ? `at most ${ROSTER_MAX_STUDENTS} students per request (got ${count}): paste the roster in parts` : null;
}

export interface VmTemplate {
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
}

export interface HostCapacity {
  id: string;
  name: string;
  connected: boolean;
  enabled: boolean;
  cpus: number | null;
  memoryMiB: number | null;
  freeMemoryMiB: number | null;
  diskFreeGiB: number | null;
  /** vCPUs and memory of the VMs already placed on the host (running or not). */
  committedVcpus: number;
  committedMemoryMiB: number;
}

export interface OvercommitPolicy {
  /** vCPUs per physical CPU. */
  cpuRatio: number;
  /** Memory committed per MiB of host memory (1.0 = no overcommit). */
  memoryRatio: number;
  /** Host memory kept for the host itself, MiB. */
  reservedMemoryMiB: number;
}

// Lab guests idle most of the time: VDI deployments commonly run 8–16 vCPUs per core.
export const DEFAULT_OVERCOMMIT: OvercommitPolicy = { cpuRatio: 16, memoryRatio: 1.0, reservedMemoryMiB: 512 };

export interface ProvisionPreview {
  fits: boolean;
  /** VMs that would be created (students without one). */
  vms: number;
  cost: ResourceAmounts;
  budget: { limits: ResourceAmounts; used: ResourceAmounts; after: ResourceAmounts };
  host: {
    name: string;
    vcpus: { committed: number; adding: number; capacity: number | null; ratioAfter: number | null };
    memoryMiB: { committed: number; adding: number; capacity: number | null; free: number | null };
    diskGiB: { adding: number; free: number | null };
  } | null;
  reasons: string[];
}

/**
 * Dry run of provisioning `count` VMs of `template` on `host` within the class budget. Linked clones
 * need only their overlay's worst case on disk. Every reason names the number that does not fit.
 */
export function previewProvision(input: {
  count: number;
  template: VmTemplate;
  budget: { limits: ResourceAmounts; used: ResourceAmounts };
  host: HostCapacity | null;
  overcommit?: OvercommitPolicy;
}): ProvisionPreview {
  const policy = input.overcommit ?? DEFAULT_OVERCOMMIT;
  const cost = sumCosts(Array.from({ length: input.count }, () => input.template));
  const reasons: string[] = [];
  for (const e of quotaExcesses(input.budget.limits, input.budget.used, cost)) {
    reasons.push(describeExcess(e).replace("quota exceeded", "class budget exceeded"));
  }
  const h = input.host;
  let host: ProvisionPreview["host"] = null;
  if (!h) {
    reasons.push("the lab image has no host");
  } else {
    if (!h.enabled) reasons.push(`host ${h.name} is disabled`);
    if (!h.connected) reasons.push(`host ${h.name} is not connected`);
    const cpuCapacity = h.cpus === null ? null : h.cpus * policy.cpuRatio;
    const memCapacity = h.memoryMiB === null ? null : Math.floor((h.memoryMiB - policy.reservedMemoryMiB) * policy.memoryRatio);
    const ratioAfter = h.cpus ? (h.committedVcpus + cost.vcpus) / h.cpus : null;
    if (cpuCapacity !== null && h.committedVcpus + cost.vcpus > cpuCapacity) {
      reasons.push(`host ${h.name}: ${h.committedVcpus + cost.vcpus} vCPUs on ${h.cpus} CPUs exceeds the ${policy.cpuRatio}:1 overcommit limit (${cpuCapacity})`);
    }
    if (memCapacity !== null && h.committedMemoryMiB + cost.memoryMiB > memCapacity) {
      reasons.push(`host ${h.name}: ${h.committedMemoryMiB + cost.memoryMiB} MiB of guest memory exceeds the ${memCapacity} MiB the host can give`);
    }
    if (h.freeMemoryMiB !== null && cost.memoryMiB > h.freeMemoryMiB - policy.reservedMemoryMiB) {
      reasons.push(`host ${h.name}: ${cost.memoryMiB} MiB needed but only ${Math.max(0, h.freeMemoryMiB - policy.reservedMemoryMiB)} MiB free now`);
    }
    if (h.diskFreeGiB !== null && cost.diskGiB > h.diskFreeGiB) {
      reasons.push(`host ${h.name}: up to ${cost.diskGiB} GiB of disk needed, ${h.diskFreeGiB} GiB free`);
    }
    host = {
      name: h.name,
      vcpus: { committed: h.committedVcpus, adding: cost.vcpus, capacity: cpuCapacity, ratioAfter },
      memoryMiB: { committed: h.committedMemoryMiB, adding: cost.memoryMiB, capacity: memCapacity, free: h.freeMemoryMiB },
      diskGiB: { adding: cost.diskGiB, free: h.diskFreeGiB },
    };
  }
  const after = {
    vms: input.budget.used.vms + cost.vms,
    vcpus: input.budget.used.vcpus + cost.vcpus,
    memoryMiB: input.budget.used.memoryMiB + cost.memoryMiB,
    diskGiB: input.budget.used.diskGiB + cost.diskGiB,
  };
  return { fits: reasons.length === 0, vms: input.count, cost, budget: { ...input.budget, after }, host, reasons };
}

export interface ClassRules {
  studentsMayPower: boolean;
  studentsMayReset: boolean;
  studentsMayRevert: boolean;
  frozenAt: Date | null;
}

export type StudentVmAction = "start" | "shutdown" | "poweroff" | "reboot" | "reset" | "revert" | "console";

/** What a student may do to their own class VM: class switches, and nothing at all once frozen. */
export function studentMay(rules: ClassRules, action: StudentVmAction): boolean {
  if (rules.frozenAt) return false;
  switch (action) {
    case "start":
    case "shutdown":
    case "poweroff":
    case "reboot":
      return rules.studentsMayPower;
    case "reset":
      return rules.studentsMayReset;
    case "revert":
      return rules.studentsMayRevert;
    case "console":
      return true;
  }
}
