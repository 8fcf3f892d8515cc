import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { getSession, mustChangePassword, safeReturnPath } from "../_lib/session";
import { ChangePasswordForm } from "./change-password-form";

export const metadata: Metadata = { title: "Change your password" };

/** Where roster accounts land after their first sign-in (and anyone who wants a new password). */
export default async function ChangePasswordPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  // Back to this page after the change would only ask again: go home instead.
  const target = safeReturnPath(params.callbackUrl);
  const returnTo = target === "/change-password" || target.startsWith("/change-password?") ? "/" : target;
  const session = await getSession();
  if (!session?.user) redirect(`/signin?callbackUrl=${encodeURIComponent("/change-password")}`);
  const required = mustChangePassword(session);
  return (
    <div className="signin-wrap">
      <div className="card signin-card" data-testid="change-password-page" data-required={required ? "true" : "false"}>
        <h1 className="signin-title">Change your password</h1>
        <p className="muted">
          {required
            ? "You signed in with a temporary password. Choose your own before you continue: until then nothing else is available."
            : "Enter your current password and a new one."}
        </p>
        <ChangePasswordForm username={session.user.name ?? ""} returnTo={returnTo} />
      </div>
    </div>
  );
}
