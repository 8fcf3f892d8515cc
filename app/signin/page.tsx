import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { getSession } from "../_lib/session";
import { SignInForm } from "./signin-form";

export const metadata: Metadata = { title: "Sign in" };

/** Only same-site paths: never bounce a user to another origin after signing in. */
function safeReturnPath(raw: string | string[] | undefined): string {
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) return "/";
  try {
    const url = new URL(value, "http://local.invalid");
    if (url.origin !== "http://local.invalid" || url.pathname.startsWith("/signin")) return "/";
    return url.pathname + url.search;
  } catch {
    return "/";
  }
}

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
