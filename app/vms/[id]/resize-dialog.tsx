"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC, type Vm } from "../../_lib/trpc";
import { FormError, Modal } from "../../_components/ui";

type Sizes = { vcpus: number; memoryMiB: number; diskGiB: number };

/**
 * Resize within quota. Shows what the quota would hold after the change, live as the numbers change,
 * and what a running VM can take (more vCPUs and memory up to its maximums, a bigger disk); the server
 * decides and says why when it refuses.
 */
export function ResizeControl({ vm }: { vm: Pick<Vm, "id" | "state" | "vcpus" | "memoryMiB" | "diskGiB" | "maxVcpus" | "maxMemoryMiB" | "class" | "activeOperationId" | "flavor"> }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [size, setSize] = useState<Sizes>({ vcpus: vm.vcpus, memoryMiB: vm.memoryMiB, diskGiB: vm.diskGiB });
  const me = useQuery({ ...trpc.auth.me.queryOptions(), enabled: open });
  const flavors = useQuery({ ...trpc.flavor.list.queryOptions(), enabled: open });
  // A VM made from a flavor changes size by changing flavor; "" = a custom size (VMs without one).
  const [flavorId, setFlavorId] = useState(vm.flavor?.id ?? "");
  const resize = useMutation(
    trpc.vm.resize.mutationOptions({
      onSuccess: (res) => {
        queryClient.setQueryData(trpc.vm.get.queryKey({ id: vm.id }), res.vm);
        setOpen(false);
      },
      onSettled: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.vm.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.auth.me.queryKey() });
      },
    }),
  );
  if (vm.class) return null;
  const running = vm.state === "running" || vm.state === "paused";
  const resizable = (running || vm.state === "stopped") && !vm.activeOperationId;
  const quota = me.data?.quota;
  const pickFlavor = (id: string) => {
    setFlavorId(id);
    const f = flavors.data?.find((x) => x.id === id);
    if (f) setSize({ vcpus: f.vcpus, memoryMiB: f.memoryMiB, diskGiB: f.diskGiB });
  };
  const delta = { vcpus: size.vcpus - vm.vcpus, memoryMiB: size.memoryMiB - vm.memoryMiB, diskGiB: size.diskGiB - vm.diskGiB };
  const rows: Array<{ key: keyof Sizes; label: string; unit: string; min: number; liveMax: number | null }> = [
    { key: "vcpus", label: "vCPUs", unit: "", min: 1, liveMax: running ? (vm.maxVcpus ?? vm.vcpus) : null },
    { key: "memoryMiB", label: "Memory", unit: "MiB", min: 96, liveMax: running ? (vm.maxMemoryMiB ?? vm.memoryMiB) : null },
    { key: "diskGiB", label: "Disk", unit: "GiB", min: vm.diskGiB, liveMax: null },
  ];
  return (
    <>
      <button
        type="button"
        className="btn btn-sm"
        disabled={!resizable}
        onClick={() => {
          setSize({ vcpus: vm.vcpus, memoryMiB: vm.memoryMiB, diskGiB: vm.diskGiB });
          setFlavorId(vm.flavor?.id ?? "");
          resize.reset();
          setOpen(true);
        }}
        data-testid="vm-resize-open"
      >
        Resize
      </button>
      <Modal open={open} title="Resize VM" onClose={() => setOpen(false)} testId="resize-dialog">
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            resize.mutate(flavorId ? { id: vm.id, flavorId } : { id: vm.id, ...size, ...(vm.flavor ? { flavorId: null } : {}) });
          }}
        >
          <p className="muted">
            {running
              ? "Running: more vCPUs and memory up to the maximums set at create, and a bigger disk, take effect at once. Stop the VM for anything else."
              : "Stopped: any size within your quota; it applies at the next start. Disks only grow."}
            {vm.flavor ? ` A flavor with other tuning needs the VM stopped.` : null}
          </p>
          {flavors.data && (flavors.data.length > 0 || vm.flavor) ? (
            <label className="field">
              <span>Flavor</span>
              <select value={flavorId} onChange={(e) => pickFlavor(e.target.value)} data-testid="resize-flavor">
                <option value="">custom size{vm.flavor ? " (leaves the flavor)" : ""}</option>
                {flavors.data.map((f) => (
                  <option key={f.id} value={f.id}>
                    {f.name} ({f.vcpus} vCPU, {f.memoryMiB} MiB, {f.diskGiB} GiB){f.id === vm.flavor?.id ? " — current" : ""}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <table className="table" data-testid="resize-quota">
            <thead>
              <tr>
                <th />
                <th>New size</th>
                <th>Quota after</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const used = quota ? quota.used[r.key] + delta[r.key] : null;
                const limit = quota?.limits[r.key];
                return (
                  <tr key={r.key}>
                    <td>
                      {r.label}
                      {r.liveMax !== null ? <span className="muted"> (live up to {r.liveMax})</span> : null}
                    </td>
                    <td>
                      <input
                        type="number"
                        min={r.min}
                        value={size[r.key]}
                        disabled={flavorId !== ""}
                        onChange={(e) => setSize({ ...size, [r.key]: Number(e.target.value) })}
                        style={{ width: "7em" }}
                        data-testid={`resize-${r.key}`}
                      />{" "}
                      {r.unit}
                    </td>
                    <td className={used !== null && limit !== undefined && used > limit ? "notice-error" : undefined} data-testid={`resize-quota-${r.key}`}>
                      {used !== null ? `${used} of ${limit}` : "…"}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <FormError error={resize.error} testId="resize-error" />
          <div className="form-actions">
            <button type="button" className="btn" onClick={() => setOpen(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={resize.isPending} data-testid="resize-submit">
              Resize
            </button>
          </div>
        </form>
      </Modal>
    </>
  );
}
