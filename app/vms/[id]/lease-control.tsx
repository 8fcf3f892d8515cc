"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { FormError } from "../../_components/ui";
import { formatDateTime } from "../../_lib/format";
import { useTRPC, type Vm } from "../../_lib/trpc";

/** A personal VM's lease: when it ends, and the owner's extension (refused past the role's maximum). */
export function LeaseControl({ vm }: { vm: Pick<Vm, "id" | "leaseExpiresAt" | "leaseWarnedAt" | "leaseExtendedDays"> }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [days, setDays] = useState(7);
  const extend = useMutation(trpc.vm.extendLease.mutationOptions({ onSettled: () => void queryClient.invalidateQueries({ queryKey: trpc.vm.pathKey() }) }));
  if (!vm.leaseExpiresAt) return <span className="muted">no lease</span>;
  const expired = new Date(vm.leaseExpiresAt).getTime() <= Date.now();
  return (
    <div className="inline-form" data-testid="vm-lease">
      <span className={vm.leaseWarnedAt ? "notice notice-error" : undefined} data-testid="vm-lease-expires">
        {expired ? "expired " : "ends "}
        {formatDateTime(vm.leaseExpiresAt)}
        {expired ? " (stopped; deleted after the grace period)" : ""}
      </span>
      <label>
        add{" "}
        <input type="number" min={1} max={3650} value={days} onChange={(e) => setDays(Math.max(1, Math.min(3650, Math.floor(Number(e.target.value) || 1))))} style={{ width: "4.5em" }} data-testid="vm-lease-days" /> days
      </label>
      <button type="button" className="btn" disabled={extend.isPending} onClick={() => extend.mutate({ id: vm.id, days })} data-testid="vm-lease-extend">
        Extend
      </button>
      {vm.leaseExtendedDays ? <span className="muted">extended by {vm.leaseExtendedDays} days so far</span> : null}
      <FormError error={extend.error} />
    </div>
  );
}
