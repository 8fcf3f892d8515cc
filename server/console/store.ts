/**
 * Everything the console proxy reads from or writes to the database, as a handful of statements. The proxy
 * depends on this interface only, so a process that serves consoles needs node-postgres and nothing
 * else (the Prisma client alone would double its memory); server/console/pg-store.ts implements it.
 */
import type { ConsoleKind, ConsoleMode } from "./tickets.ts";

export interface RedeemedTicket {
  id: string;
  userId: string;
  vmId: string;
  mode: ConsoleMode;
  kind: ConsoleKind;
}

/** The user and the VM (with its host and class rules) as the policy needs them, read as current rows. */
export interface ConsoleAccess {
  userId: string;
  vmId: string;
  user: { id: string; username: string; role: string; disabled: boolean; sessionVersion: number } | null;
  vm: {
    id: string;
    state: string;
    deleted: boolean;
    /** A live migration is in flight: the VM is leaving its host (its display and serial will close there). */
    migrating: boolean;
    domainName: string;
    ownerId: string;
    /**
     * The console is a submission viewer's (the ticket named one): `id`, `state` and `domainName` are
     * the viewer's, `ownerId` and `class` its student VM's. Policy then asks `submission.view`.
     */
    viewer?: boolean;
    host: { id: string; uri: string };
    class: { frozenAt: Date | null; studentsMayPower: boolean; studentsMayReset: boolean; studentsMayRevert: boolean; teachers: Array<{ userId: string }> } | null;
  } | null;
}

/** `ticketSessionVersion`: the user's sessionVersion when the ticket was minted. */
export type RedeemedConsoleAccess = RedeemedTicket & ConsoleAccess & { ticketSessionVersion: number };

/** One AuditEvent row, with the same columns and meaning as services/audit-service.ts writes. */
export interface ConsoleAuditRow {
  actorId: string | null;
  actorName: string | null;
  ip: string | null;
  action: string;
  targetType?: string;
  targetId?: string;
  result: "ok" | "denied" | "error";
  detail?: Record<string, unknown>;
}

/** Where a minted, unredeemed VNC ticket's VM runs, read from the rows (never from an announcement). */
export interface TicketTarget {
  vmId: string;
  kind: ConsoleKind;
  expiresAt: Date;
  vmState: string;
  hostId: string;
  hostUri: string;
  domainName: string;
}

export interface ConsoleStore {
  /**
   * Consumes the ticket with this SHA-256 hash and reads its user, VM, host and class rules in one
   * round trip. Only an unconsumed ticket whose expiry is after `now` matches, so of any number of
   * concurrent callers exactly one gets it back; everyone else (and every replay) gets null.
   */
  redeemTicket(tokenHash: string, now: Date): Promise<RedeemedConsoleAccess | null>;
  /** Current access rows for every (user, VM) pair of the live sessions, in one query. */
  recheck(pairs: ReadonlyArray<{ userId: string; vmId: string }>): Promise<ConsoleAccess[]>;
  /** Appends an audit row; rejects on failure (the caller decides that auditing never fails a session). */
  audit(row: ConsoleAuditRow): Promise<void>;
  /**
   * Counts a refusal of an unauthenticated upgrade in the one row of its (action, result, address,
   * reason, minute) — see refusalAggregateKey — so a flood of refusals cannot grow the audit log.
   */
  auditRefusal(row: ConsoleAuditRow & { reason: string }, at: Date): Promise<void>;
  /** The target of the unconsumed, unexpired ticket with this hash (for preparing its display), or null. */
  ticketTarget(tokenHash: string, now: Date): Promise<TicketTarget | null>;
  /** Deletes tickets that expired more than an hour before `now` (kept briefly for forensics); returns how many. */
  purgeExpiredTickets(now: Date): Promise<number>;
}
