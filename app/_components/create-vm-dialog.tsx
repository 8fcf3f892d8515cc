"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { useTRPC, type Vm } from "../_lib/trpc";
import { QuotaBars } from "./quota-bars";
import { FormError, Loading, Modal } from "./ui";

const MIN_MEMORY_MIB = 80;

function toInt(value: string): number {
  return value.trim() === "" ? NaN : Number(value);
}

export function CreateVmDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (vm: Vm) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const images = useQuery({ ...trpc.image.list.queryOptions(), enabled: open });
  const flavors = useQuery({ ...trpc.flavor.list.queryOptions(), enabled: open });
  // A flavor fixes the size (and its tuning, which only admins see); "" = a custom size.
  const [flavorId, setFlavorId] = useState("");
  const quota = useQuery({ ...trpc.auth.quota.queryOptions(), enabled: open });
  const me = useQuery({ ...trpc.auth.me.queryOptions(), enabled: open });
  const isAdmin = me.data?.role === "admin";
  // Admins may pin the host; everyone else's VM goes where placement says (the VM page shows where).
  const hosts = useQuery({ ...trpc.host.list.queryOptions(), enabled: open && isAdmin });
  const [hostId, setHostId] = useState("");
  const [name, setName] = useState("");
  const [imageId, setImageId] = useState("");
  const [vcpus, setVcpus] = useState("1");
  const [memory, setMemory] = useState("128");
  const [disk, setDisk] = useState("1");
  const [localError, setLocalError] = useState<string | null>(null);
  // cloud-init (NoCloud seed disc): off unless asked for.
  const [cloudInit, setCloudInit] = useState(false);
  const [hostname, setHostname] = useState("");
  const [withKeys, setWithKeys] = useState(true);
  const [userData, setUserData] = useState("");
  const sshKeys = useQuery({ ...trpc.sshKey.list.queryOptions(), enabled: open && cloudInit });

  const create = useMutation(
    trpc.vm.create.mutationOptions({
      onSuccess: async (res) => {
        await queryClient.invalidateQueries({ queryKey: trpc.auth.pathKey() });
        await queryClient.invalidateQueries({ queryKey: trpc.vm.list.pathKey() });
        onCreated(res.vm);
      },
    }),
  );

  const image = images.data?.find((i) => i.id === imageId);
  const flavor = flavors.data?.find((f) => f.id === flavorId);
  useEffect(() => {
    if (!flavor) return;
    setVcpus(String(flavor.vcpus));
    setMemory(String(flavor.memoryMiB));
    setDisk(String(flavor.diskGiB));
  }, [flavor]);
  const minDisk = image?.minDiskGiB ?? 1;

  // Pick the first image, and raise the disk to the image's minimum when the image changes.
  useEffect(() => {
    if (!imageId && images.data && images.data[0]) setImageId(images.data[0].id);
  }, [images.data, imageId]);
  useEffect(() => {
    if (image && !flavor && toInt(disk) < image.minDiskGiB) setDisk(String(image.minDiskGiB));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- only on image change
  }, [image?.id]);
  useEffect(() => {
    if (open) {
      setName("");
      setLocalError(null);
      create.reset();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps -- reset on open only
  }, [open]);

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    create.reset();
    const v = toInt(vcpus);
    const m = toInt(memory);
    const d = toInt(disk);
    if (!name.trim()) return setLocalError("Name is required");
    if (!imageId) return setLocalError("Choose an image");
    if (!Number.isInteger(v) || v < 1) return setLocalError("vCPUs must be a whole number of at least 1");
    if (!Number.isInteger(m) || m < MIN_MEMORY_MIB) return setLocalError(`Memory must be at least ${MIN_MEMORY_MIB} MiB (guests need it to boot)`);
    if (!Number.isInteger(d) || d < minDisk) return setLocalError(`Disk must be at least ${minDisk} GiB for this image`);
    const seed = cloudInit
      ? { cloudInit: { ...(hostname.trim() ? { hostname: hostname.trim() } : {}), ...(userData.trim() ? { userData } : {}), ...(withKeys ? { sshKeys: "all" as const } : {}) } }
      : {};
    const size = flavor ? { flavorId: flavor.id } : { vcpus: v, memoryMiB: m, diskGiB: d };
    create.mutate({ name: name.trim(), imageId, ...size, ...(hostId ? { hostId } : {}), ...seed });
  }

  const adding = { vms: 1, vcpus: toInt(vcpus) || 0, memoryMiB: toInt(memory) || 0, diskGiB: toInt(disk) || 0 };

  return (
    <Modal open={open} title="Create VM" onClose={onClose} testId="create-vm-dialog">
      {images.isPending ? (
        <Loading what="images" />
      ) : images.error ? (
        <FormError error={images.error} />
      ) : images.data.length === 0 ? (
        <p className="notice notice-warn" data-testid="no-images">
          No images are available yet. Ask an administrator to register one.
        </p>
      ) : (
        <form className="form" onSubmit={onSubmit} noValidate data-testid="create-vm-form">
          <label className="field">
            <span>Name</span>
            <input value={name} onChange={(e) => setName(e.target.value)} maxLength={100} required autoFocus placeholder="e.g. lab-01" data-testid="create-vm-name" />
          </label>
          <label className="field">
            <span>Image</span>
            <select value={imageId} onChange={(e) => setImageId(e.target.value)} required data-testid="create-vm-image">
              {images.data.map((i) => (
                <option key={i.id} value={i.id}>
                  {i.name} ({i.format}, min {i.minDiskGiB} GiB)
                </option>
              ))}
            </select>
            {image?.description ? <small className="muted">{image.description}</small> : null}
          </label>
          {flavors.data && flavors.data.length > 0 ? (
            <label className="field">
              <span>Flavor</span>
              <select value={flavorId} onChange={(e) => setFlavorId(e.target.value)} data-testid="create-vm-flavor">
                <option value="">custom size</option>
                {flavors.data.map((f) => (
                  <option key={f.id} value={f.id}>
                    {f.name} ({f.vcpus} vCPU, {f.memoryMiB} MiB, {f.diskGiB} GiB)
                  </option>
                ))}
              </select>
              {flavor?.description ? <small className="muted">{flavor.description}</small> : null}
            </label>
          ) : null}
          <div className="field-row">
            <label className="field">
              <span>vCPUs</span>
              <input type="number" inputMode="numeric" min={1} max={64} step={1} value={vcpus} onChange={(e) => setVcpus(e.target.value)} disabled={!!flavor} data-testid="create-vm-vcpus" />
            </label>
            <label className="field">
              <span>Memory (MiB)</span>
              <input type="number" inputMode="numeric" min={MIN_MEMORY_MIB} step={16} value={memory} onChange={(e) => setMemory(e.target.value)} disabled={!!flavor} data-testid="create-vm-memory" />
            </label>
            <label className="field">
              <span>Disk (GiB)</span>
              <input type="number" inputMode="numeric" min={minDisk} step={1} value={disk} onChange={(e) => setDisk(e.target.value)} disabled={!!flavor} data-testid="create-vm-disk" />
            </label>
          </div>
          <p className="hint">Memory at least {MIN_MEMORY_MIB} MiB; disk at least {minDisk} GiB for this image.</p>
          {isAdmin && hosts.data ? (
            <label className="field">
              <span>Host</span>
              <select value={hostId} onChange={(e) => setHostId(e.target.value)} data-testid="create-vm-host">
                <option value="">where placement chooses</option>
                {hosts.data.map((h) => (
                  <option key={h.id} value={h.id}>
                    {h.name} ({h.state}; {h.allocated.vcpus}/{h.capacity.vcpus ?? "?"} vCPUs)
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <fieldset className="field" style={{ border: 0, padding: 0, margin: 0 }} data-testid="create-vm-cloud-init">
            <label className="check">
              <input type="checkbox" checked={cloudInit} onChange={(e) => setCloudInit(e.target.checked)} data-testid="create-vm-cloud-init-on" /> cloud-init: host name, SSH keys, user-data
            </label>
            {cloudInit ? (
              <>
                <label className="field">
                  <span>Host name</span>
                  <input value={hostname} onChange={(e) => setHostname(e.target.value)} maxLength={63} placeholder="default: from the VM's name" data-testid="create-vm-hostname" />
                </label>
                <label className="check">
                  <input type="checkbox" checked={withKeys} onChange={(e) => setWithKeys(e.target.checked)} data-testid="create-vm-ssh-keys" /> add my SSH keys ({sshKeys.data?.length ?? "…"}; manage them under SSH keys)
                </label>
                <label className="field">
                  <span>User-data (optional: #cloud-config YAML or a #! script, at most 64 KiB)</span>
                  <textarea value={userData} onChange={(e) => setUserData(e.target.value)} rows={4} placeholder={"#cloud-config\npackages: [htop]"} data-testid="create-vm-user-data" />
                </label>
              </>
            ) : null}
          </fieldset>
          <section aria-label="Quota" className="dialog-quota">
            <h3>Your quota: in use + this VM / limit</h3>
            {quota.data ? <QuotaBars quota={quota.data} adding={adding} compact /> : quota.error ? <FormError error={quota.error} testId="quota-error" /> : <Loading what="quota" />}
          </section>
          <FormError error={localError ?? create.error} />
          <div className="form-actions">
            <button type="button" className="btn" onClick={onClose} data-testid="create-vm-cancel">
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={create.isPending} data-testid="create-vm-submit">
              {create.isPending ? "Creating…" : "Create VM"}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
