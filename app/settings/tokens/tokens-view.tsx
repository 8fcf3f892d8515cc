"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ConfirmDialog, FormError, Loading } from "../../_components/ui";
import { formatAgo, formatDateTime } from "../../_lib/format";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";

type Token = RouterOutputs["auth"]["tokens"][number];
type Scope = Token["scopes"][number];

/** What each scope lets a token do (the server decides: server/domain/policy.ts). */
const SCOPE_INFO: Array<{ scope: Scope; label: string; hint: string; adminOnly?: boolean }> = [
  { scope: "read", label: "read", hint: "look at VMs, images, quota (always included)" },
  { scope: "vms", label: "vms", hint: "create, start, stop, delete VMs; consoles; classes" },
  { scope: "admin", label: "admin", hint: "users, quotas, hosts, images, audit log", adminOnly: true },
];

function NewTokenSecret({ name, secret }: { name: string; secret: string }) {
  const [copied, setCopied] = useState<"yes" | "failed" | null>(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  }
  return (
    <div className="notice notice-success" data-testid="token-created" style={{ marginTop: 12, marginBottom: 0 }}>
      <strong>Token “{name}” created.</strong> Copy it now: it is shown only once and cannot be retrieved later.
      <div className="secret">
        <code data-testid="token-secret">{secret}</code>
        <button type="button" className="btn btn-sm" onClick={() => void copy()} data-testid="token-copy">
          {copied === "yes" ? "Copied" : "Copy"}
        </button>
      </div>
      {copied === "failed" ? <p className="hint" style={{ marginTop: 6 }}>Copying is blocked here: select the text and copy it by hand.</p> : null}
      <p className="hint" style={{ marginTop: 6 }}>
        Use it as <code>Authorization: Bearer &lt;token&gt;</code> with the REST API under <code>/api/v1</code>.
      </p>
    </div>
  );
}

function TokenRow({ token }: { token: Token }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const revoke = useMutation(trpc.auth.revokeToken.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.auth.tokens.queryKey() }) }));
  const expired = token.expiresAt.getTime() < Date.now();
  return (
    <tr data-testid="token-row" data-token-name={token.name} data-token-id={token.id}>
      <td>
        <strong>{token.name}</strong>
      </td>
      <td className="nowrap" data-testid="token-scopes">
        {token.scopes.map((scope) => (
          <span key={scope} className={`pill ${scope === "admin" ? "pill-amber" : scope === "vms" ? "pill-blue" : "pill-grey"}`} style={{ marginRight: 4 }}>
            {scope}
          </span>
        ))}
      </td>
      <td className="nowrap">{formatDateTime(token.createdAt)}</td>
      <td className="nowrap">{expired ? <span className="pill pill-red">expired</span> : formatDateTime(token.expiresAt)}</td>
      <td className="nowrap">{formatAgo(token.lastUsedAt ?? null)}</td>
      <td>
        <button type="button" className="btn btn-sm btn-danger-outline" disabled={revoke.isPending} onClick={() => setConfirming(true)} data-testid={`token-revoke-${token.name}`}>
          Revoke
        </button>
        <FormError error={revoke.error} />
        <ConfirmDialog
          open={confirming}
          title={`Revoke “${token.name}”?`}
          message="Scripts using this token stop working at once."
          confirmLabel="Revoke"
          danger
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            revoke.mutate({ id: token.id });
          }}
        />
      </td>
    </tr>
  );
}

export function TokensView() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.auth.tokens.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  const [name, setName] = useState("");
  const [ttlDays, setTtlDays] = useState("30");
  const [scopes, setScopes] = useState<ReadonlySet<Scope>>(new Set<Scope>(["read", "vms"]));
  const offered = SCOPE_INFO.filter((s) => !s.adminOnly || me.data?.role === "admin");
  const toggle = (scope: Scope, on: boolean) =>
    setScopes((prev) => {
      const next = new Set(prev);
      if (on) next.add(scope);
      else next.delete(scope);
      return next;
    });
  const [localError, setLocalError] = useState<string | null>(null);
  const create = useMutation(
    trpc.auth.createToken.mutationOptions({
      onSuccess: () => {
        setName("");
        void queryClient.invalidateQueries({ queryKey: trpc.auth.tokens.queryKey() });
      },
    }),
  );

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    const ttl = Number(ttlDays);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 365) return setLocalError("Lifetime must be 1 to 365 days");
    create.mutate({ name: name.trim(), ttlDays: ttl, scopes: SCOPE_INFO.map((s) => s.scope).filter((s) => s === "read" || scopes.has(s)) });
  }

  return (
    <>
      <div className="page-head">
        <h1>API tokens</h1>
      </div>
      <section className="card" aria-labelledby="new-token-title">
        <h2 id="new-token-title" className="card-title">
          New token
        </h2>
        <form className="inline-form" onSubmit={onSubmit} noValidate data-testid="token-create-form">
          <label className="field grow">
            <span>Name</span>
            <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} placeholder="e.g. ci-pipeline" data-testid="token-create-name" />
          </label>
          <label className="field" style={{ minWidth: 110, width: 130 }}>
            <span>Lifetime (days)</span>
            <input type="number" min={1} max={365} value={ttlDays} onChange={(e) => setTtlDays(e.target.value)} data-testid="token-create-ttl" />
          </label>
          <button type="submit" className="btn btn-primary" disabled={create.isPending} data-testid="token-create-submit">
            {create.isPending ? "Creating…" : "Create token"}
          </button>
        </form>
        <fieldset className="token-scopes" style={{ border: 0, padding: 0, margin: "12px 0 0" }} data-testid="token-create-scopes">
          <legend className="muted" style={{ padding: 0, marginBottom: 6 }}>
            Scopes: what the token may be used for
          </legend>
          {offered.map((s) => (
            <label key={s.scope} className="check" style={{ marginRight: 18 }} title={s.hint}>
              <input
                type="checkbox"
                checked={s.scope === "read" || scopes.has(s.scope)}
                disabled={s.scope === "read"}
                onChange={(e) => toggle(s.scope, e.target.checked)}
                data-testid={`token-scope-${s.scope}`}
              />
              <strong>{s.label}</strong> <span className="muted">{s.hint}</span>
            </label>
          ))}
        </fieldset>
        <FormError error={localError ?? create.error} />
        {create.data ? <NewTokenSecret name={create.data.name} secret={create.data.token} /> : null}
      </section>
      <section className="card" aria-label="Your tokens">
        {tokens.isPending ? (
          <Loading what="tokens" />
        ) : tokens.error ? (
          <FormError error={tokens.error} />
        ) : tokens.data.length === 0 ? (
          <p className="muted" data-testid="tokens-empty">
            You have no API tokens.
          </p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="tokens-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Scopes</th>
                  <th>Created</th>
                  <th>Expires</th>
                  <th>Last used</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {tokens.data.map((t) => (
                  <TokenRow key={t.id} token={t} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
