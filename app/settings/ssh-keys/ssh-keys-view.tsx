"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ConfirmDialog, FormError, Loading } from "../../_components/ui";
import { formatDateTime } from "../../_lib/format";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";

type SshKey = RouterOutputs["sshKey"]["list"][number];

function KeyRow({ sshKey }: { sshKey: SshKey }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation(trpc.sshKey.delete.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.sshKey.list.queryKey() }) }));
  return (
    <tr data-testid="ssh-key-row" data-key-name={sshKey.name}>
      <td>
        <strong>{sshKey.name}</strong>
      </td>
      <td className="nowrap">
        {sshKey.type} ({sshKey.bits})
      </td>
      <td>
        <code data-testid="ssh-key-fingerprint">{sshKey.fingerprint}</code>
      </td>
      <td className="nowrap">{formatDateTime(sshKey.createdAt)}</td>
      <td>
        <button type="button" className="btn btn-sm btn-danger-outline" disabled={remove.isPending} onClick={() => setConfirming(true)} data-testid={`ssh-key-delete-${sshKey.name}`}>
          Delete
        </button>
        <FormError error={remove.error} />
        <ConfirmDialog
          open={confirming}
          title={`Delete “${sshKey.name}”?`}
          message="New VMs will not get this key. VMs created with it keep it."
          confirmLabel="Delete"
          danger
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            remove.mutate({ id: sshKey.id });
          }}
        />
      </td>
    </tr>
  );
}

/** The user's SSH public keys: what cloud-init puts into their new VMs' authorized_keys. */
export function SshKeysView() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const keys = useQuery(trpc.sshKey.list.queryOptions());
  const [name, setName] = useState("");
  const [publicKey, setPublicKey] = useState("");
  const add = useMutation(
    trpc.sshKey.add.mutationOptions({
      onSuccess: () => {
        setName("");
        setPublicKey("");
        void queryClient.invalidateQueries({ queryKey: trpc.sshKey.list.queryKey() });
      },
    }),
  );

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    add.mutate({ publicKey: publicKey.trim(), ...(name.trim() ? { name: name.trim() } : {}) });
  }

  return (
    <>
      <div className="page-head">
        <h1>SSH keys</h1>
      </div>
      <section className="card" aria-labelledby="new-key-title">
        <h2 id="new-key-title" className="card-title">
          Add a key
        </h2>
        <p className="muted">
          Paste one line of a <code>.pub</code> file (ed25519, ECDSA, or RSA of at least 2048 bits). New VMs created with cloud-init get your keys.
        </p>
        <form onSubmit={onSubmit} noValidate data-testid="ssh-key-form">
          <label className="field">
            <span>Public key</span>
            <textarea value={publicKey} onChange={(e) => setPublicKey(e.target.value)} rows={3} maxLength={8192} placeholder="ssh-ed25519 AAAA… you@laptop" data-testid="ssh-key-public" />
          </label>
          <div className="inline-form" style={{ marginTop: 8 }}>
            <label className="field grow">
              <span>Name (optional)</span>
              <input value={name} onChange={(e) => setName(e.target.value)} maxLength={100} placeholder="default: the key's comment" data-testid="ssh-key-name" />
            </label>
            <button type="submit" className="btn btn-primary" disabled={add.isPending || !publicKey.trim()} data-testid="ssh-key-submit">
              {add.isPending ? "Adding…" : "Add key"}
            </button>
          </div>
        </form>
        <FormError error={add.error} />
      </section>
      <section className="card" aria-label="Your SSH keys">
        {keys.isPending ? (
          <Loading what="SSH keys" />
        ) : keys.error ? (
          <FormError error={keys.error} />
        ) : keys.data.length === 0 ? (
          <p className="muted" data-testid="ssh-keys-empty">
            You have no SSH keys.
          </p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="ssh-keys-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Type</th>
                  <th>Fingerprint</th>
                  <th>Added</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {keys.data.map((k) => (
                  <KeyRow key={k.id} sshKey={k} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
