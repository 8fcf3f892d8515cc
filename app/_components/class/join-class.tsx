"use client";

import "./class.css";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTRPC } from "../../_lib/trpc";
import { FormError } from "../ui";

/** A student joins a class with the code the teacher gives out; the VM arrives when the teacher provisions. */
export function JoinClass() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [code, setCode] = useState("");
  const join = useMutation(
    trpc.class.join.mutationOptions({
      onSuccess: () => {
        setCode("");
        void queryClient.invalidateQueries({ queryKey: trpc.vm.list.pathKey() });
      },
    }),
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    if (code.trim()) join.mutate({ code: code.trim() });
  }
  return (
    <section className="card join-card" aria-labelledby="join-title">
      <form className="inline-form" onSubmit={submit}>
        <label className="field grow">
          <span id="join-title">Join a class</span>
          <input value={code} onChange={(e) => setCode(e.target.value.toUpperCase())} placeholder="code from your teacher" maxLength={32} autoComplete="off" spellCheck={false} data-testid="join-code-input" />
        </label>
        <button type="submit" className="btn" disabled={join.isPending || code.trim().length < 4} data-testid="join-submit">
          Join
        </button>
      </form>
      <FormError error={join.error} testId="join-error" />
      {join.data ? (
        <p className="notice notice-success join-done" data-testid="join-done">
          You joined <strong>{join.data.name}</strong>. Your lab VM appears here when your teacher provisions it.
        </p>
      ) : null}
    </section>
  );
}
