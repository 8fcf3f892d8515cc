/**
 * What a browser session's JWT carries and when it still stands. Pure (no I/O): next-auth's callbacks
 * and the API's request context (server/api/trpc.ts) both read sessions through these, and the
 * database half of the check lives in services/auth-service.ts (`loadSessionUser`).
 *
 * next-auth re-issues the cookie with a fresh expiry on every session read, so its `maxAge` only ever
 * ends idle sessions. The absolute lifetime is counted here from `authTime`, written once at sign-in
 * and carried unchanged through every refresh.
 */

export interface SessionClaims {
  userId: string;
  /** User.sessionVersion at sign-in: a password reset, disable or role change bumps it and ends the session. */
  sessionVersion: number;
  /** Sign-in time, seconds since the epoch. */
  authTime: number;
}

/** Tolerated clock difference between portal instances for a sign-in time "in the future". */
const CLOCK_SKEW_S = 60;

/** The claims written into a new session's JWT (alongside next-auth's own). */
export function newSessionClaims(userId: string, sessionVersion: number, now: Date): { uid: string; sv: number; authTime: number } {
  return { uid: userId, sv: sessionVersion, authTime: Math.floor(now.getTime() / 1000) };
}

/** Reads our claims from a decoded JWT; null when any is missing or malformed (e.g. a pre-upgrade cookie). */
export function readSessionClaims(jwt: unknown): SessionClaims | null {
  if (!jwt || typeof jwt !== "object") return null;
  const { uid, sv, authTime } = jwt as Record<string, unknown>;
  if (typeof uid !== "string" || uid.length === 0) return null;
  if (typeof sv !== "number" || !Number.isInteger(sv)) return null;
  if (typeof authTime !== "number" || !Number.isFinite(authTime)) return null;
  return { userId: uid, sessionVersion: sv, authTime };
}

/** Whether a session signed in at `claims.authTime` is still within its absolute lifetime at `now`. */
export function withinAbsoluteLifetime(claims: SessionClaims, now: Date, absoluteS: number): boolean {
  const nowS = now.getTime() / 1000;
  return claims.authTime <= nowS + CLOCK_SKEW_S && nowS - claims.authTime < absoluteS;
}
