"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ConfirmDialog, FormError, Loading } from "../../_components/ui";
import { formatDateTime } from "../../_lib/format";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";

type Image = RouterOutputs["image"]["list"][number];
type Format = "qcow2" | "raw" | "iso";

function RegisterImageForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const hosts = useQuery(trpc.host.list.queryOptions());
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [path, setPath] = useState("");
  const [format, setFormat] = useState<Format>("qcow2");
  const [minDisk, setMinDisk] = useState("1");
  const [hostId, setHostId] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);
  const register = useMutation(
    trpc.image.register.mutationOptions({
      onSuccess: () => {
        setName("");
        setDescription("");
        setPath("");
        void queryClient.invalidateQueries({ queryKey: trpc.image.list.queryKey() });
      },
    }),
  );
  const selectedHost = hostId || hosts.data?.[0]?.id || "";

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    const min = Number(minDisk);
    if (!Number.isInteger(min) || min < 1) return setLocalError("Minimum disk must be a whole number of GiB (at least 1)");
    if (!selectedHost) return setLocalError("Add a host first: images live on a host");
    register.mutate({ name: name.trim(), description: description.trim() || undefined, path: path.trim(), format, minDiskGiB: min, hostId: selectedHost });
  }

  return (
    <section className="card" aria-labelledby="register-image-title">
      <h2 id="register-image-title" className="card-title">
        Register image
      </h2>
      <form className="inline-form" onSubmit={onSubmit} noValidate data-testid="image-register-form">
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} required data-testid="image-register-name" />
        </label>
        <label className="field grow">
          <span>Path on the host</span>
          <input value={path} onChange={(e) => setPath(e.target.value)} required placeholder="/var/lib/vmdesk/images/debian.qcow2" data-testid="image-register-path" />
        </label>
        <label className="field">
          <span>Format</span>
          <select value={format} onChange={(e) => setFormat(e.target.value as Format)} data-testid="image-register-format">
            <option value="qcow2">qcow2</option>
            <option value="raw">raw</option>
            <option value="iso">iso</option>
          </select>
        </label>
        <label className="field" style={{ minWidth: 100, width: 110 }}>
          <span>Min disk (GiB)</span>
          <input type="number" min={1} value={minDisk} onChange={(e) => setMinDisk(e.target.value)} data-testid="image-register-mindisk" />
        </label>
        <label className="field">
          <span>Host</span>
          <select value={selectedHost} onChange={(e) => setHostId(e.target.value)} data-testid="image-register-host" disabled={!hosts.data?.length}>
            {hosts.data?.length ? (
              hosts.data.map((h) => (
                <option key={h.id} value={h.id}>
                  {h.name}
                </option>
              ))
            ) : (
              <option value="">{hosts.isPending ? "loading…" : "no hosts"}</option>
            )}
          </select>
        </label>
        <label className="field grow">
          <span>Description</span>
          <input value={description} onChange={(e) => setDescription(e.target.value)} maxLength={1000} data-testid="image-register-description" />
        </label>
        <button type="submit" className="btn btn-primary" disabled={register.isPending} data-testid="image-register-submit">
          {register.isPending ? "Registering…" : "Register"}
        </button>
      </form>
      <FormError error={localError ?? register.error ?? hosts.error} />
    </section>
  );
}

function ImageRow({ image }: { image: Image }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation(trpc.image.delete.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.image.list.queryKey() }) }));
  return (
    <tr data-testid="image-row" data-image-name={image.name}>
      <td>
        <strong>{image.name}</strong>
        {image.description ? <div className="muted">{image.description}</div> : null}
      </td>
      <td>{image.format}</td>
      <td className="num">{image.minDiskGiB} GiB</td>
      <td className="nowrap">{image.host.name}</td>
      <td className="mono">{image.path ?? "—"}</td>
      <td className="nowrap muted">{formatDateTime(image.createdAt)}</td>
      <td>
        <button type="button" className="btn btn-sm btn-danger-outline" disabled={remove.isPending} onClick={() => setConfirming(true)} data-testid={`image-delete-${image.name}`}>
          Remove
        </button>
        <FormError error={remove.error} />
        <ConfirmDialog
          open={confirming}
          title={`Remove image “${image.name}”?`}
          message="The image leaves the library; the file on the host and existing VMs are not touched."
          confirmLabel="Remove"
          danger
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            remove.mutate({ id: image.id });
          }}
        />
      </td>
    </tr>
  );
}

export function ImagesAdmin() {
  const trpc = useTRPC();
  const images = useQuery(trpc.image.list.queryOptions());
  return (
    <>
      <div className="page-head">
        <h1>Images</h1>
      </div>
      <RegisterImageForm />
      <section className="card" aria-label="Images">
        {images.isPending ? (
          <Loading what="images" />
        ) : images.error ? (
          <FormError error={images.error} />
        ) : images.data.length === 0 ? (
          <p className="muted">No images registered yet.</p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="images-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Format</th>
                  <th className="num">Min disk</th>
                  <th>Host</th>
                  <th>Path</th>
                  <th>Registered</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {images.data.map((i) => (
                  <ImageRow key={i.id} image={i} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
