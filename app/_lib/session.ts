/** Server-side session gate for pages. The one place app/ reaches next-auth's options. */
import { getServerSession, type Session } from "next-auth";
import { redirect } from "next/navigation";
import { authOptions } from "@/server/auth/next-auth";

/** Where to go after signing in: a same-origin path only (server/auth/return-path.ts). */
export { safeReturnPath } from "@/server/auth/next-auth";

export function getSession(): Promise<Session | null> {
  return getServerSession(authOptions);
}

/** Set by the session callback for accounts still on a temporary password (roster imports). */
export function mustChangePassword(session: Session | null): boolean {
  return Boolean((session?.user as { mustChangePassword?: boolean } | undefined)?.mustChangePassword);
}

/**
 * Redirects to /signin (coming back to `returnTo` afterwards) when nobody is signed in, and to
 * /change-password while the account's temporary password has not been changed.
 */
export async function requireSession(returnTo: string): Promise<Session> {
  const session = await getSession();
  if (!session?.user) redirect(`/signin?callbackUrl=${encodeURIComponent(returnTo)}`);
  if (mustChangePassword(session)) redirect(`/change-password?callbackUrl=${encodeURIComponent(returnTo)}`);
  return session;
}
