/**
 * Pure rules for virtual-lab classrooms: roster parsing, the provisioning preview (budget and host
 * capacity, with a concrete reason for anything that will not fit), and what students may do to
 * their own class VM.
 */
import type { PlacementResult } from "./placement.ts";
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

export interface ProvisionPreview {
  fits: boolean;
  /** VMs that would be created (students without one). */
  vms: number;
  cost: ResourceAmounts;
  budget: { limits: ResourceAmounts; used: ResourceAmounts; after: ResourceAmounts };
  /** Where each student's VM would go (null: no host can take it). */
  placements: { student: string; host: string | null }[];
  /** What this run adds to each host that receives VMs. */
  hosts: { name: string; vms: number; vcpus: number; memoryMiB: number; diskGiB: number }[];
  /** Every host that refused a VM of this run, with its (first) reason. */
  refusals: { host: string; reason: string }[];
  reasons: string[];
}

/**
 * Dry run of provisioning one VM of `template` per student within the class budget, with each VM's
 * placement (domain/placement `placeMany`, one result per student, in the same order). Every reason
 * names the number or the host that does not fit.
 */
export function previewProvision(input: {
  students: readonly string[];
  template: VmTemplate;
  budget: { limits: ResourceAmounts; used: ResourceAmounts };
  placements: readonly PlacementResult[];
}): ProvisionPreview {
  const cost = sumCosts(input.students.map(() => input.template));
  const reasons: string[] = [];
  for (const e of quotaExcesses(input.budget.limits, input.budget.used, cost)) {
    reasons.push(describeExcess(e).replace("quota exceeded", "class budget exceeded"));
  }
  const placements = input.students.map((student, i) => {
    const r = input.placements[i];
    return { student, host: r?.ok ? r.hostName : null };
  });
  const unplaced = placements.filter((p) => p.host === null).map((p) => p.student);
  const firstFailure = input.placements.find((r) => !r.ok);
  if (unplaced.length > 0) {
    const why = firstFailure && !firstFailure.ok ? `: ${firstFailure.message}` : "";
    reasons.push(`no host can take the VM${unplaced.length === 1 ? "" : "s"} of ${unplaced.join(", ")}${why}`);
  }
  const hosts = new Map<string, ProvisionPreview["hosts"][number]>();
  for (const p of placements) {
    if (p.host === null) continue;
    const h = hosts.get(p.host) ?? { name: p.host, vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 };
    h.vms += 1;
    h.vcpus += input.template.vcpus;
    h.memoryMiB += input.template.memoryMiB;
    h.diskGiB += input.template.diskGiB;
    hosts.set(p.host, h);
  }
  const refusals = new Map<string, string>();
  for (const r of input.placements) for (const f of r.refusals) if (!refusals.has(f.hostName)) refusals.set(f.hostName, f.reason);
  const after = {
    vms: input.budget.used.vms + cost.vms,
    vcpus: input.budget.used.vcpus + cost.vcpus,
    memoryMiB: input.budget.used.memoryMiB + cost.memoryMiB,
    diskGiB: input.budget.used.diskGiB + cost.diskGiB,
  };
  return {
    fits: reasons.length === 0,
    vms: input.students.length,
    cost,
    budget: { ...input.budget, after },
    placements,
    hosts: [...hosts.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    refusals: [...refusals].map(([host, reason]) => ({ host, reason })).sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0)),
    reasons,
  };
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
