import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { getSession, safeReturnPath } from "../_lib/session";
import { SignInForm } from "./signin-form";

export const metadata: Metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  const returnTo = safeReturnPath(params.callbackUrl);
  const session = await getSession();
  if (session?.user) redirect(returnTo);
  return (
    <div className="signin-wrap">
      <div className="card signin-card">
        <div className="signin-brand">
          <span className="brand-mark" aria-hidden="true">▣</span> vmdesk
        </div>
        <h1 className="signin-title">Sign in</h1>
        <p className="muted">Use the account your administrator gave you.</p>
        <SignInForm returnTo={returnTo} />
      </div>
    </div>
  );
}
