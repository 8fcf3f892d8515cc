/**
 * Fixed-window rate limits kept in PostgreSQL so every portal instance shares them. One statement per
 * hit (upsert that resets an expired window), so concurrent hits cannot lose counts. Each row knows
 * when its window ends; the background leader deletes ended ones (`purgeExpiredRateLimits`).
 */
import type { Db } from "../db/client.ts";
import { config } from "../config.ts";
import { AppError } from "../domain/errors.ts";

export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

/** Counts a hit on `key`; returns false once the window's limit is exceeded. */
export async function hit(db: Db, key: string, rule: RateLimitRule, now = new Date()): Promise<boolean> {
  const windowStartFloor = new Date(now.getTime() - rule.windowMs);
  const expiresAt = new Date(now.getTime() + rule.windowMs);
  const rows = await db.$queryRaw<Array<{ count: number }>>`
    INSERT INTO "RateLimitBucket" ("key", "windowStart", "count", "expiresAt") VALUES (${key}, ${now}, 1, ${expiresAt})
    ON CONFLICT ("key") DO UPDATE SET
      "count" = CASE WHEN "RateLimitBucket"."windowStart" < ${windowStartFloor} THEN 1 ELSE "RateLimitBucket"."count" + 1 END,
      "expiresAt" = CASE WHEN "RateLimitBucket"."windowStart" < ${windowStartFloor} THEN ${expiresAt} ELSE "RateLimitBucket"."expiresAt" END,
      "windowStart" = CASE WHEN "RateLimitBucket"."windowStart" < ${windowStartFloor} THEN ${now} ELSE "RateLimitBucket"."windowStart" END
    RETURNING "count"`;
  return (rows[0]?.count ?? 0) <= rule.limit;
}

/** Deletes buckets whose window has ended (they count for nothing: the next hit would restart them). */
export async function purgeExpiredRateLimits(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.rateLimitBucket.deleteMany({ where: { expiresAt: { lt: now } } });
  return count;
}

/** Expands an IPv6 address to its eight 16-bit groups; null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0 || [...head, ...tail].some(Number.isNaN)) return null;
  return [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
}

/**
 * The address a sign-in counts against: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 — one
 * host usually holds a whole /64, so counting single IPv6 addresses would let it rotate past any limit.
 */
export function signInAddressKey(ip: string | null): string {
  if (!ip) return "unknown";
  const address = ip.trim().toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  if (!address.includes(":")) return address;
  const groups = ipv6Groups(address.split("%")[0]!);
  return groups ? `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64` : address;
}

/**
 * Throws RATE_LIMITED when this address has tried this account, or any accounts, too often. The
 * account's count is kept per address: a flood against an account (admin included) slows down only
 * the flooding addresses, and its owner can still sign in from anywhere else.
 */
export async function limitSignIn(db: Db, username: string, ip: string | null): Promise<void> {
  const cfg = config();
  const windowMs = cfg.VMDESK_SIGNIN_WINDOW_S * 1000;
  const address = signInAddressKey(ip);
  const okAccount = await hit(db, `signin:user:${username.toLowerCase()}@${address}`, { limit: cfg.VMDESK_SIGNIN_LIMIT_PER_ACCOUNT, windowMs });
  const okAddress = ip ? await hit(db, `signin:ip:${address}`, { limit: cfg.VMDESK_SIGNIN_LIMIT_PER_ADDRESS, windowMs }) : true;
  if (!okAccount || !okAddress) throw new AppError("RATE_LIMITED", "too many sign-in attempts; try again in a few minutes");
}
