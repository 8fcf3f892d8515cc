"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useTRPC, type Vm } from "../../_lib/trpc";
import { FormError } from "../../_components/ui";

/**
 * High availability: restarted on another host when this one dies (the portal refuses it, with the
 * reason, when the VM's host has no shared storage). Students' class VMs do not offer it (policy).
 */
export function HaControl({ vm }: { vm: Pick<Vm, "id" | "ha" | "haPriority" | "haError" | "haFencingRequired" | "class"> }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [priority, setPriority] = useState(vm.haPriority);
  useEffect(() => setPriority(vm.haPriority), [vm.haPriority]);
  const setHa = useMutation(
    trpc.vm.setHa.mutationOptions({
      onSuccess: (res) => queryClient.setQueryData(trpc.vm.get.queryKey({ id: vm.id }), res),
      onSettled: () => void queryClient.invalidateQueries({ queryKey: trpc.vm.pathKey() }),
    }),
  );
  return (
    <div className="inline-form" data-testid="vm-ha">
      <label className="checkbox">
        <input
          type="checkbox"
          checked={vm.ha}
          disabled={setHa.isPending}
          onChange={(e) => setHa.mutate({ id: vm.id, enabled: e.target.checked, priority })}
          data-testid="vm-ha-enabled"
        />{" "}
        restart on another host if its host dies
      </label>
      <label>
        priority{" "}
        <input
          type="number"
          min={0}
          max={100}
          value={priority}
          onChange={(e) => setPriority(Number(e.target.value))}
          onBlur={() => priority !== vm.haPriority && setHa.mutate({ id: vm.id, enabled: vm.ha, priority })}
          disabled={setHa.isPending}
          style={{ width: "4.5em" }}
          data-testid="vm-ha-priority"
        />
      </label>
      {vm.haError ? (
        <span className={vm.haFencingRequired ? "notice notice-error" : "muted"} data-testid="vm-ha-error">
          {vm.haError}
        </span>
      ) : null}
      <FormError error={setHa.error} />
    </div>
  );
}
