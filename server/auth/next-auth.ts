/**
 * next-auth (v4) with username/password credentials and short-lived JWT sessions. The JWT carries only
 * the user id: role and "disabled" are re-read from the database on every request (server/api/trpc.ts),
 * so demoting or disabling a user takes effect at once.
 */
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { db } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import { verifyCredentials } from "../services/auth-service.ts";

const SESSION_MAX_AGE_S = Number(process.env.VMDESK_SESSION_MAX_AGE_S ?? 8 * 3600);

function clientIp(headers: unknown): string | null {
  const h = headers as Record<string, string | string[] | undefined> | undefined;
  const v = h?.["x-vmdesk-client-ip"];
  return typeof v === "string" ? v : null;
}

export const authOptions: NextAuthOptions = {
  session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_S },
  jwt: { maxAge: SESSION_MAX_AGE_S },
  pages: { signIn: "/signin" },
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
          return { id: user.id, name: user.username };
        } catch (err) {
          if (err instanceof AppError && err.code === "RATE_LIMITED") throw new Error("Too many attempts: wait a few minutes");
          return null;
        }
      },
    }),
  ],
  callbacks: {
    jwt({ token, user }) {
      if (user) token.uid = user.id;
      return token;
    },
    session({ session, token }) {
      return { ...session, user: { ...session.user, id: token.uid as string } };
    },
  },
};
