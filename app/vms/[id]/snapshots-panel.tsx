"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useTRPC, type Vm } from "../../_lib/trpc";
import { formatDateTime } from "../../_lib/format";
import { ConfirmDialog, FormError, Loading } from "../../_components/ui";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * A personal VM's snapshots: take one (with the guest's memory while it runs, or without), revert,
 * delete, with the owner's snapshots quota. Class VMs keep their class's checkpoints instead.
 */
export function SnapshotsPanel({ vm }: { vm: Pick<Vm, "id" | "state" | "activeOperationId" | "class"> }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const snapshots = useQuery(trpc.snapshot.list.queryOptions({ id: vm.id }));
  const me = useQuery(trpc.auth.me.queryOptions());
  const [name, setName] = useState("");
  const running = vm.state === "running" || vm.state === "paused";
  const [memory, setMemory] = useState(running);
  const [confirm, setConfirm] = useState<{ kind: "revert" | "delete"; name: string; memory: boolean } | null>(null);
  useEffect(() => setMemory(running), [running]);
  // Every change of the VM's operation (taken, reverted, deleted, failed) can change the list.
  useEffect(() => {
    void queryClient.invalidateQueries({ queryKey: trpc.snapshot.list.queryKey({ id: vm.id }) });
    void queryClient.invalidateQueries({ queryKey: trpc.auth.me.queryKey() });
  }, [vm.activeOperationId, queryClient, trpc, vm.id]);
  const settled = {
    onSuccess: (res: { vm: Vm }) => queryClient.setQueryData(trpc.vm.get.queryKey({ id: vm.id }), res.vm),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: trpc.snapshot.list.queryKey({ id: vm.id }) });
      void queryClient.invalidateQueries({ queryKey: trpc.vm.pathKey() });
    },
  };
  const create = useMutation(trpc.snapshot.create.mutationOptions({ ...settled, onSuccess: (res) => (settled.onSuccess(res), setName("")) }));
  const revert = useMutation(trpc.snapshot.revert.mutationOptions(settled));
  const remove = useMutation(trpc.snapshot.delete.mutationOptions(settled));

  if (vm.class) return <p className="muted">Class VMs keep their class&apos;s checkpoints; ask the teacher.</p>;
  const quota = me.data?.quota.snapshots;
  const busy = Boolean(vm.activeOperationId);
  const canSnapshot = (running || vm.state === "stopped") && !busy;
  const nameOk = NAME.test(name);
  return (
    <div data-testid="vm-snapshots">
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (nameOk) create.mutate({ id: vm.id, name, memory });
        }}
      >
        <label>
          name{" "}
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={63} placeholder="before-upgrade" data-testid="snapshot-name" />
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={memory} disabled={!running} onChange={(e) => setMemory(e.target.checked)} data-testid="snapshot-memory" /> with memory
        </label>
        <button type="submit" className="btn btn-primary btn-sm" disabled={!canSnapshot || !nameOk || create.isPending} data-testid="snapshot-take">
          Take snapshot
        </button>
        {quota ? (
          <span className="muted" data-testid="snapshot-quota">
            {quota.used} of {quota.limit} snapshots used
          </span>
        ) : null}
      </form>
      {name && !nameOk ? <p className="muted">1–63 letters, digits, &apos;_&apos;, &apos;.&apos; or &apos;-&apos;, starting with a letter or digit.</p> : null}
      <FormError error={create.error ?? revert.error ?? remove.error} testId="snapshot-error" />
      {snapshots.data ? (
        snapshots.data.length === 0 ? (
          <p className="muted" data-testid="snapshots-empty">
            No snapshots yet.
          </p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="snapshots-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Memory</th>
                  <th>Taken</th>
                  <th>State</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {snapshots.data.map((s) => (
                  <tr key={s.id} data-testid={`snapshot-row-${s.name}`}>
                    <td className="mono">{s.name}</td>
                    <td>{s.memory ? "yes" : "no (reverts to shut off)"}</td>
                    <td>{formatDateTime(s.createdAt)}</td>
                    <td data-testid={`snapshot-state-${s.name}`}>{s.state}</td>
                    <td className="row-actions">
                      <button
                        type="button"
                        className="btn btn-sm"
                        disabled={busy || s.state !== "ready" || vm.state === "provisioning"}
                        onClick={() => setConfirm({ kind: "revert", name: s.name, memory: s.memory })}
                        data-testid={`snapshot-revert-${s.name}`}
                      >
                        Revert
                      </button>{" "}
                      <button
                        type="button"
                        className="btn btn-sm btn-danger"
                        disabled={busy || s.state !== "ready"}
                        onClick={() => setConfirm({ kind: "delete", name: s.name, memory: s.memory })}
                        data-testid={`snapshot-delete-${s.name}`}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : snapshots.error ? (
        <FormError error={snapshots.error} testId="snapshots-load-error" />
      ) : (
        <Loading what="snapshots" />
      )}
      <ConfirmDialog
        open={confirm !== null}
        title={confirm?.kind === "revert" ? `Revert to "${confirm.name}"?` : `Delete snapshot "${confirm?.name ?? ""}"?`}
        message={
          confirm?.kind === "revert"
            ? confirm.memory
              ? "Everything since the snapshot is lost; the guest resumes where it was when it was taken."
              : "Everything since the snapshot is lost; the VM is left shut off with its disk as it was."
            : "The snapshot is removed from the disk. The VM itself is not changed."
        }
        confirmLabel={confirm?.kind === "revert" ? "Revert" : "Delete"}
        danger
        onCancel={() => setConfirm(null)}
        onConfirm={() => {
          if (!confirm) return;
          (confirm.kind === "revert" ? revert : remove).mutate({ id: vm.id, name: confirm.name });
          setConfirm(null);
        }}
      />
    </div>
  );
}
