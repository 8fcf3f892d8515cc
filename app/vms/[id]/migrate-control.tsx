"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC, type Vm } from "../../_lib/trpc";
import { FormError } from "../../_components/ui";

/** Admins: live-migrate a running VM, to the host placement chooses or to one they pick. */
export function MigrateControl({ vm }: { vm: Pick<Vm, "id" | "state" | "activeOperationId" | "host"> }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.auth.me.queryOptions());
  const isAdmin = me.data?.role === "admin";
  const hosts = useQuery({ ...trpc.host.list.queryOptions(), enabled: isAdmin });
  const [hostId, setHostId] = useState("");
  const migrate = useMutation(
    trpc.vm.migrate.mutationOptions({
      onSettled: () => void queryClient.invalidateQueries({ queryKey: trpc.vm.pathKey() }),
    }),
  );
  if (!isAdmin) return null;
  const movable = (vm.state === "running" || vm.state === "paused") && vm.activeOperationId === null;
  const others = (hosts.data ?? []).filter((h) => h.id !== vm.host.id);
  return (
    <div className="inline-form" data-testid="vm-migrate">
      <select value={hostId} onChange={(e) => setHostId(e.target.value)} disabled={!movable || migrate.isPending} aria-label="Destination host" data-testid="vm-migrate-host">
        <option value="">where placement chooses</option>
        {others.map((h) => (
          <option key={h.id} value={h.id} disabled={h.state !== "up" && h.state !== "degraded"}>
            {h.name} ({h.state})
          </option>
        ))}
      </select>
      <button
        type="button"
        className="btn btn-sm"
        disabled={!movable || migrate.isPending}
        onClick={() => migrate.mutate({ id: vm.id, ...(hostId ? { hostId } : {}) })}
        title="Move the running VM to another host without stopping it"
        data-testid="vm-migrate-submit"
      >
        {migrate.isPending ? "Queuing…" : "Live-migrate"}
      </button>
      <FormError error={migrate.error} />
    </div>
  );
}
