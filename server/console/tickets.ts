/**
 * Console tickets: 32 random bytes (base64url) handed to the browser once, carried in a websocket
 * subprotocol (never in a URL, so never in access logs), stored only as their SHA-256. A ticket is
 * bound to one user, one VM (or a submission viewer), a mode and a kind, lives at most 60 s, and is consumed by exactly one
 * conditional UPDATE … RETURNING: of any number of concurrent redemptions, exactly one gets the row.
 *
 * No hypervisor imports here: the API mints tickets (Prisma), the proxy consumes them through its
 * ConsoleStore (store.ts; node-postgres only), so nothing here may load the Prisma client at runtime.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Db } from "../db/client.ts";
import { CONSOLE_TICKET_CHANNEL } from "../db/notify.ts";
import { log } from "../log.ts";

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

/**
 * Stores a new ticket's hash and returns the secret (shown to the caller once). A VNC ticket's hash is
 * also announced to the console proxies, which open the VM's display while the client is on its way
 * (proxy.ts, "prepared displays"); a lost announcement only costs the connect that head start.
 */
export async function mintTicket(db: Db, input: { userId: string; vmId: string; viewerId?: string; mode: ConsoleMode; kind: ConsoleKind; now: Date; ttlS: number }): Promise<MintedTicket> {
  const ticket = newTicketSecret();
  const tokenHash = hashTicket(ticket);
  const expiresAt = ticketExpiry(input.now, input.ttlS);
  // The user's sessionVersion is read in the same statement: a reset committed before it voids the
  // ticket at once, one committed after ends its session at the proxy's next re-check.
  const [row] = await db.$queryRaw<Array<{ id: string }>>`
    INSERT INTO "ConsoleTicket" ("id", "tokenHash", "userId", "vmId", "viewerId", "mode", "kind", "createdAt", "expiresAt", "sessionVersion")
    SELECT ${randomUUID()}::uuid, ${tokenHash}, u."id", ${input.vmId}::uuid, ${input.viewerId ?? null}::uuid, ${input.mode}, ${input.kind},
           ${input.now.toISOString()}::timestamp, ${expiresAt.toISOString()}::timestamp, u."sessionVersion"
    FROM "User" u WHERE u."id" = ${input.userId}::uuid
    RETURNING "id"::text AS "id"`;
  if (!row) throw new Error(`no user ${input.userId} to mint a console ticket for`);
  if (input.kind === "vnc") {
    // Only the hash: a proxy reads where to connect from the ticket's rows, never from a payload.
    await db.$executeRaw`SELECT pg_notify(${CONSOLE_TICKET_CHANNEL}, ${JSON.stringify({ tokenHash })})`.catch((err: unknown) => log.warn({ err }, "console ticket announcement failed"));
  }
  return { id: row.id, ticket, expiresAt };
}
