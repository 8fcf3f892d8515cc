"use client";

import { signIn } from "next-auth/react";
import { useState, type FormEvent } from "react";
import { FormError } from "../_components/ui";

function describe(error: string): string {
  if (error === "CredentialsSignin") return "Invalid username or password";
  if (/too many/i.test(error)) return error;
  return `Sign-in failed: ${error}`;
}

export function SignInForm({ returnTo }: { returnTo: string }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await signIn("credentials", { redirect: false, username, password });
      if (!res || res.error || !res.ok) {
        setError(describe(res?.error ?? "no response from the server"));
        setBusy(false);
        return;
      }
      // A full navigation so the layout renders with the new session.
      window.location.assign(returnTo);
    } catch (err) {
      setError(`Sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
      setBusy(false);
    }
  }

  return (
    <form className="form" onSubmit={onSubmit} data-testid="signin-form">
      <label className="field">
        <span>Username</span>
        <input name="username" autoComplete="username" required autoFocus value={username} onChange={(e) => setUsername(e.target.value)} data-testid="signin-username" />
      </label>
      <label className="field">
        <span>Password</span>
        <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} data-testid="signin-password" />
      </label>
      <FormError error={error} />
      <button type="submit" className="btn btn-primary btn-block" disabled={busy} data-testid="signin-submit">
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
