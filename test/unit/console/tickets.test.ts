import { describe, expect, it } from "vitest";
import { hashTicket, isRedeemable, isWellFormedTicket, newTicketSecret, ticketExpiry, ticketFromProtocols, ticketProtocols } from "../../../server/console/tickets.ts";

const t0 = new Date("2026-11-27T12:00:00.000Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

describe("console tickets", () => {
  it("are 32 random bytes in base64url, stored only as a SHA-256 hex", () => {
    const a = newTicketSecret();
    const b = newTicketSecret();
    expect(a).not.toBe(b);
    expect(Buffer.from(a, "base64url")).toHaveLength(32);
    expect(isWellFormedTicket(a)).toBe(true);
    expect(hashTicket(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashTicket(a)).not.toContain(a);
    expect(hashTicket(a)).toBe(hashTicket(a));
  });

  it("expire after the configured TTL, never later than 60 s (injected clock)", () => {
    expect(ticketExpiry(t0, 30)).toEqual(at(30_000));
    expect(ticketExpiry(t0, 600)).toEqual(at(60_000));
    expect(ticketExpiry(t0, 0)).toEqual(at(1_000));
    const ticket = { expiresAt: ticketExpiry(t0, 30), consumedAt: null };
    expect(isRedeemable(ticket, at(0))).toBe(true);
    expect(isRedeemable(ticket, at(29_999))).toBe(true);
    expect(isRedeemable(ticket, at(30_000))).toBe(false);
    expect(isRedeemable({ ...ticket, consumedAt: at(1) }, at(2))).toBe(false);
  });

  it("travel in a subprotocol, next to the one the server selects", () => {
    const secret = newTicketSecret();
    const protocols = ticketProtocols(secret);
    expect(protocols).toEqual([`vmdesk-ticket.${secret}`, "binary"]);
    expect(ticketFromProtocols(protocols.join(", "))).toEqual({ ticket: secret });
    expect(ticketFromProtocols(undefined)).toBe("absent");
    expect(ticketFromProtocols("binary")).toBe("absent");
    expect(ticketFromProtocols("vmdesk-ticket.short, binary")).toBe("malformed");
    expect(ticketFromProtocols(`vmdesk-ticket.${secret}, vmdesk-ticket.${secret}`)).toBe("malformed");
    expect(ticketFromProtocols(`vmdesk-ticket.${secret.slice(0, 42)}!`)).toBe("malformed");
  });
});
