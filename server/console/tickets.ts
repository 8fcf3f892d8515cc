/**
 * Console tickets: 32 random bytes (base64url) handed to the browser once, carried in a websocket
 * subprotocol (never in a URL, so never in access logs), stored only as their SHA-256. A ticket is
 * bound to one user, one VM, a mode and a kind, lives at most 60 s, and is consumed by exactly one
 * conditional UPDATE … RETURNING: of any number of concurrent redemptions, exactly one gets the row.
 *
 * No hypervisor imports here: the API mints tickets, the proxy consumes them.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../db/client.ts";

export type ConsoleMode = "control" | "view";
export type ConsoleKind = "vnc" | "serial";

/** Subprotocol carrying the ticket, and the one the server selects (it never echoes the ticket). */
export const TICKET_PROTOCOL_PREFIX = "vmdesk-ticket.";
export const DATA_PROTOCOL = "binary";
export const MAX_TICKET_TTL_S = 60;

/** base64url of 32 bytes: 43 characters, no padding. */
const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function newTicketSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function hashTicket(ticket: string): string {
  return createHash("sha256").update(ticket).digest("hex");
}

export function isWellFormedTicket(ticket: string): boolean {
  return TICKET_SHAPE.test(ticket);
}

/** Expiry of a ticket issued at `now`: the configured TTL, clamped to 1…60 s. */
export function ticketExpiry(now: Date, ttlS: number): Date {
  const s = Math.min(MAX_TICKET_TTL_S, Math.max(1, Math.floor(ttlS)));
  return new Date(now.getTime() + s * 1000);
}

/** Whether an unconsumed ticket may still be redeemed at `now` (the expiry instant itself is too late). */
export function isRedeemable(ticket: { expiresAt: Date; consumedAt: Date | null }, now: Date): boolean {
  return ticket.consumedAt === null && now.getTime() < ticket.expiresAt.getTime();
}

/**
 * The ticket offered in a `Sec-WebSocket-Protocol` header: "absent" when none is offered,
 * "malformed" when the value after the prefix is not a 32-byte base64url string.
 */
export function ticketFromProtocols(header: string | undefined): { ticket: string } | "absent" | "malformed" {
  const offered = (header ?? "").split(",").map((p) => p.trim()).filter(Boolean);
  const mine = offered.filter((p) => p.startsWith(TICKET_PROTOCOL_PREFIX));
  if (mine.length === 0) return "absent";
  if (mine.length > 1) return "malformed";
  const ticket = mine[0]!.slice(TICKET_PROTOCOL_PREFIX.length);
  return isWellFormedTicket(ticket) ? { ticket } : "malformed";
}

export function ticketProtocols(ticket: string): string[] {
  return [`${TICKET_PROTOCOL_PREFIX}${ticket}`, DATA_PROTOCOL];
}

export interface MintedTicket {
  id: string;
  ticket: string;
  expiresAt: Date;
}

/** Stores a new ticket's hash and returns the secret (shown to the caller once). */
export async function mintTicket(db: Db, input: { userId: string; vmId: string; mode: ConsoleMode; kind: ConsoleKind; now: Date; ttlS: number }): Promise<MintedTicket> {
  const ticket = newTicketSecret();
  const expiresAt = ticketExpiry(input.now, input.ttlS);
  const row = await db.consoleTicket.create({
    data: { tokenHash: hashTicket(ticket), userId: input.userId, vmId: input.vmId, mode: input.mode, kind: input.kind, createdAt: input.now, expiresAt },
    select: { id: true },
  });
  return { id: row.id, ticket, expiresAt };
}

export interface RedeemedTicket {
  id: string;
  userId: string;
  vmId: string;
  mode: ConsoleMode;
  kind: ConsoleKind;
}

/**
 * Consumes a ticket: one conditional UPDATE that only matches an unconsumed, unexpired row, so
 * exactly one of many concurrent callers gets it back; everyone else (and every replay) gets null.
 */
export async function consumeTicket(db: Db, ticket: string, now: Date): Promise<RedeemedTicket | null> {
  if (!isWellFormedTicket(ticket)) return null;
  const rows = await db.$queryRaw<Array<{ id: string; userId: string; vmId: string; mode: string; kind: string }>>`
    UPDATE "ConsoleTicket" SET "consumedAt" = ${now}
    WHERE "tokenHash" = ${hashTicket(ticket)} AND "consumedAt" IS NULL AND "expiresAt" > ${now}
    RETURNING "id"::text AS "id", "userId"::text AS "userId", "vmId"::text AS "vmId", "mode", "kind"`;
  const row = rows[0];
  if (!row) return null;
  return { id: row.id, userId: row.userId, vmId: row.vmId, mode: row.mode as ConsoleMode, kind: row.kind as ConsoleKind };
}

/** A redeemed ticket with everything the proxy must re-check at connect, read in the same statement. */
export interface RedeemedConsoleAccess extends RedeemedTicket {
  user: { id: string; username: string; role: string; disabled: boolean } | null;
  vm: {
    id: string;
    state: string;
    deleted: boolean;
    domainName: string;
    ownerId: string;
    host: { id: string; uri: string };
    class: { frozenAt: Date | null; studentsMayPower: boolean; studentsMayReset: boolean; studentsMayRevert: boolean; teachers: Array<{ userId: string }> } | null;
  } | null;
}

/**
 * Consumes a ticket and reads the user, the VM, its host and its class rules in one round trip:
 * connect latency is dominated by database round trips, and the checks must still see current rows.
 */
export async function redeemTicket(db: Db, ticket: string, now: Date): Promise<RedeemedConsoleAccess | null> {
  if (!isWellFormedTicket(ticket)) return null;
  const rows = await db.$queryRaw<
    Array<{
      id: string; userId: string; vmId: string; mode: string; kind: string;
      username: string | null; role: string | null; disabled: boolean | null;
      vmState: string | null; vmDeletedAt: Date | null; domainName: string | null; ownerId: string | null; hostId: string | null; hostUri: string | null;
      classId: string | null; frozenAt: Date | null; studentsMayPower: boolean | null; studentsMayReset: boolean | null; studentsMayRevert: boolean | null; teacherIds: string[] | null;
    }>
  >`
    WITH t AS (
      UPDATE "ConsoleTicket" SET "consumedAt" = ${now}
      WHERE "tokenHash" = ${hashTicket(ticket)} AND "consumedAt" IS NULL AND "expiresAt" > ${now}
      RETURNING "id", "userId", "vmId", "mode", "kind")
    SELECT t."id"::text AS "id", t."userId"::text AS "userId", t."vmId"::text AS "vmId", t."mode", t."kind",
      u."username", u."role"::text AS "role", u."disabled",
      v."state"::text AS "vmState", v."deletedAt" AS "vmDeletedAt", v."domainName", v."ownerId"::text AS "ownerId",
      h."id"::text AS "hostId", h."uri" AS "hostUri",
      c."id"::text AS "classId", c."frozenAt", c."studentsMayPower", c."studentsMayReset", c."studentsMayRevert",
      (SELECT array_agg(ct."userId"::text) FROM "ClassTeacher" ct WHERE ct."classId" = c."id") AS "teacherIds"
    FROM t
    LEFT JOIN "User" u ON u."id" = t."userId"
    LEFT JOIN "Vm" v ON v."id" = t."vmId"
    LEFT JOIN "Host" h ON h."id" = v."hostId"
    LEFT JOIN "Class" c ON c."id" = v."classId"`;
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    userId: r.userId,
    vmId: r.vmId,
    mode: r.mode as ConsoleMode,
    kind: r.kind as ConsoleKind,
    user: r.username !== null ? { id: r.userId, username: r.username, role: r.role!, disabled: r.disabled! } : null,
    vm:
      r.vmState !== null
        ? {
            id: r.vmId,
            state: r.vmState,
            deleted: r.vmDeletedAt !== null,
            domainName: r.domainName!,
            ownerId: r.ownerId!,
            host: { id: r.hostId!, uri: r.hostUri! },
            class:
              r.classId !== null
                ? { frozenAt: r.frozenAt, studentsMayPower: r.studentsMayPower!, studentsMayReset: r.studentsMayReset!, studentsMayRevert: r.studentsMayRevert!, teachers: (r.teacherIds ?? []).map((userId) => ({ userId })) }
                : null,
          }
        : null,
  };
}

/** Deletes tickets that expired more than an hour ago (they can never be redeemed; kept briefly for forensics). */
export async function purgeExpiredTickets(db: Db, now: Date): Promise<number> {
  const { count } = await db.consoleTicket.deleteMany({ where: { expiresAt: { lt: new Date(now.getTime() - 3_600_000) } } });
  return count;
}
