/**
 * Fixed-window rate limits kept in PostgreSQL so every portal instance shares them. One statement per
 * hit (upsert that resets an expired window), so concurrent hits cannot lose counts.
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
  const rows = await db.$queryRaw<Array<{ count: number }>>`
    INSERT INTO "RateLimitBucket" ("key", "windowStart", "count") VALUES (${key}, ${now}, 1)
    ON CONFLICT ("key") DO UPDATE SET
      "count" = CASE WHEN "RateLimitBucket"."windowStart" < ${windowStartFloor} THEN 1 ELSE "RateLimitBucket"."count" + 1 END,
      "windowStart" = CASE WHEN "RateLimitBucket"."windowStart" < ${windowStartFloor} THEN ${now} ELSE "RateLimitBucket"."windowStart" END
    RETURNING "count"`;
  return (rows[0]?.count ?? 0) <= rule.limit;
}

/** Throws RATE_LIMITED when the account or the address has tried too often. */
export async function limitSignIn(db: Db, username: string, ip: string | null): Promise<void> {
  const cfg = config();
  const windowMs = cfg.VMDESK_SIGNIN_WINDOW_S * 1000;
  const okAccount = await hit(db, `signin:user:${username.toLowerCase()}`, { limit: cfg.VMDESK_SIGNIN_LIMIT_PER_ACCOUNT, windowMs });
  const okAddress = ip ? await hit(db, `signin:ip:${ip}`, { limit: cfg.VMDESK_SIGNIN_LIMIT_PER_ADDRESS, windowMs }) : true;
  if (!okAccount || !okAddress) throw new AppError("RATE_LIMITED", "too many sign-in attempts; try again in a few minutes");
}
