/**
 * next-auth (v4) with username/password credentials and JWT sessions. The JWT carries the user id, the
 * user's sessionVersion and the sign-in time (session-claims.ts); role and "disabled" are re-read from
 * the database on every request (server/api/trpc.ts) and every session read (the jwt callback below),
 * so a password reset, disable or role change ends the session at once, and so does the absolute
 * lifetime that next-auth's sliding expiry alone would never enforce.
 */
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { config } from "../config.ts";
import { db } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import { log } from "../log.ts";
import { loadSessionUser, verifyCredentials } from "../services/auth-service.ts";
import { safeReturnPath } from "./return-path.ts";
import { newSessionClaims } from "./session-claims.ts";

export { safeReturnPath };

/** Thrown from the jwt callback to make next-auth drop the session cookie; expected, so not logged as an error. */
class SessionEnded extends Error {
  override name = "SessionEnded";
}

function clientIp(headers: unknown): string | null {
  const h = headers as Record<string, string | string[] | undefined> | undefined;
  const v = h?.["x-vmdesk-client-ip"];
  return typeof v === "string" ? v : null;
}

const idleTimeoutS = config().VMDESK_SESSION_MAX_AGE_S;

export const authOptions: NextAuthOptions = {
  // maxAge slides with every session read (an idle timeout); the absolute lifetime is checked in loadSessionUser.
  session: { strategy: "jwt", maxAge: idleTimeoutS },
  jwt: { maxAge: idleTimeoutS },
  pages: { signIn: "/signin" },
  logger: {
    error(code, metadata) {
      if (metadata instanceof SessionEnded || (metadata as { name?: string } | undefined)?.name === "SessionEnded") return;
      log.error({ code, err: metadata }, "next-auth error");
    },
    warn(code) {
      log.warn({ code }, "next-auth warning");
    },
    debug() {},
  },
  providers: [
    CredentialsProvider({
      name: "vmdesk",
      credentials: { username: { label: "Username", type: "text" }, password: { label: "Password", type: "password" } },
      async authorize(credentials, req) {
        const username = credentials?.username?.trim() ?? "";
        const password = credentials?.password ?? "";
        if (!username || !password || username.length > 64 || password.length > 200) return null;
        try {
          const user = await verifyCredentials(db(), username, password, clientIp(req?.headers));
          return { id: user.id, name: user.username, sessionVersion: user.sessionVersion, mustChangePassword: user.mustChangePassword ?? false };
        } catch (err) {
          if (err instanceof AppError && err.code === "RATE_LIMITED") throw new Error("Too many attempts: wait a few minutes");
          return null;
        }
      },
    }),
  ],
  callbacks: {
    async jwt({ token, user }) {
      if (user) {
        const { sessionVersion, mustChangePassword } = user as { sessionVersion?: unknown; mustChangePassword?: unknown };
        const claims = newSessionClaims(user.id, typeof sessionVersion === "number" ? sessionVersion : -1, new Date());
        return { ...token, ...claims, mustChangePassword: mustChangePassword === true };
      }
      // Every later read of the session: does it still stand? The same read refreshes the temporary-password
      // flag, so the forced change is asked for, and over, the moment the database says so.
      const current = await loadSessionUser(db(), token);
      if (!current) throw new SessionEnded("session ended");
      return { ...token, mustChangePassword: current.mustChangePassword === true };
    },
    session({ session, token }) {
      return { ...session, user: { ...session.user, id: token.uid as string, mustChangePassword: token.mustChangePassword === true } };
    },
    /** Only paths on this portal (return-path.ts); next-auth's default lets `/.//x`-style paths through. */
    redirect({ url, baseUrl }) {
      return `${baseUrl}${safeReturnPath(url, { sameOrigin: baseUrl })}`;
    },
  },
};
