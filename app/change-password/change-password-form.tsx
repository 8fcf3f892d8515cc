"use client";

import { useMutation } from "@tanstack/react-query";
import { signIn } from "next-auth/react";
import { useState, type FormEvent } from "react";
import { FormError } from "../_components/ui";
import { useTRPC } from "../_lib/trpc";

export function ChangePasswordForm({ username, returnTo }: { username: string; returnTo: string }) {
  const trpc = useTRPC();
  const [currentPassword, setCurrent] = useState("");
  const [newPassword, setNew] = useState("");
  const [confirm, setConfirm] = useState("");
  const [mismatch, setMismatch] = useState<string | null>(null);
  const change = useMutation(
    trpc.user.changePassword.mutationOptions({
      // The change ended every session of the account, this one included: sign in again with the new
      // password, then a full navigation so every page reads the new session.
      onSuccess: async () => {
        const res = await signIn("credentials", { redirect: false, username, password: newPassword });
        window.location.assign(res?.ok && !res.error ? returnTo : `/signin?callbackUrl=${encodeURIComponent(returnTo)}`);
      },
    }),
  );

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (newPassword !== confirm) {
      setMismatch("The two new passwords differ");
      return;
    }
    setMismatch(null);
    change.mutate({ currentPassword, newPassword });
  }

  return (
    <form className="form" onSubmit={onSubmit} data-testid="change-password-form">
      <label className="field">
        <span>Current (temporary) password</span>
        <input type="password" autoComplete="current-password" required autoFocus value={currentPassword} onChange={(e) => setCurrent(e.target.value)} data-testid="change-password-current" />
      </label>
      <label className="field">
        <span>New password (at least 8 characters)</span>
        <input type="password" autoComplete="new-password" required minLength={8} maxLength={200} value={newPassword} onChange={(e) => setNew(e.target.value)} data-testid="change-password-new" />
      </label>
      <label className="field">
        <span>New password again</span>
        <input type="password" autoComplete="new-password" required minLength={8} maxLength={200} value={confirm} onChange={(e) => setConfirm(e.target.value)} data-testid="change-password-confirm" />
      </label>
      <FormError error={mismatch ?? change.error} />
      <button type="submit" className="btn btn-primary btn-block" disabled={change.isPending} data-testid="change-password-submit">
        {change.isPending ? "Saving…" : "Change password"}
      </button>
    </form>
  );
}
