"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type FormEvent } from "react";
import { ConfirmDialog, FormError, Loading, ProgressBar } from "../_components/ui";
import { formatDateTime } from "../_lib/format";
import { useTRPC, type RouterOutputs } from "../_lib/trpc";
import { sendFile, serverOffset, type UploadProgress } from "./upload-client";

type Image = RouterOutputs["image"]["list"][number];
type Format = "qcow2" | "raw" | "iso";

function formatBytes(n: number | null): string {
  if (n === null) return "—";
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function guessFormat(name: string): Format {
  if (/\.iso$/i.test(name)) return "iso";
  if (/\.(img|raw)$/i.test(name)) return "raw";
  return "qcow2";
}

/** Upload form: starts a resumable upload, sends it in chunks with a progress bar, resumes after drops. */
function UploadForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [format, setFormat] = useState<Format>("qcow2");
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [phase, setPhase] = useState<"idle" | "sending" | "validating" | "done" | "failed">("idle");
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<{ name: string; sha256: string | null } | null>(null);
  const pending = useRef<{ id: string; file: File } | null>(null);
  const abort = useRef<AbortController | null>(null);
  const create = useMutation(trpc.image.createUpload.mutationOptions());

  async function send(id: string, f: File, from: number) {
    setPhase("sending");
    setError(null);
    abort.current = new AbortController();
    try {
      const image = (await sendFile(id, f, from, (p) => {
        setProgress(p);
        if (p.sent >= p.total) setPhase("validating");
      }, abort.current.signal)) as { name: string; sha256: string | null };
      pending.current = null;
      setResult(image);
      setPhase("done");
      void queryClient.invalidateQueries({ queryKey: trpc.image.list.queryKey() });
      void queryClient.invalidateQueries({ queryKey: trpc.image.quota.queryKey() });
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setPhase("failed");
    }
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (!file) return setError("Choose a file first");
    setResult(null);
    setError(null);
    try {
      const upload = await create.mutateAsync({ name: name.trim() || file.name, format, totalBytes: file.size });
      pending.current = { id: upload.id, file };
      setProgress({ sent: 0, total: file.size });
      await send(upload.id, file, 0);
    } catch (err) {
      setError(err);
      setPhase("failed");
    }
  }

  async function resume() {
    const p = pending.current;
    if (!p) return;
    const offset = await serverOffset(p.id);
    if (offset === null) return setError("The server cannot be reached yet; try again");
    await send(p.id, p.file, offset);
  }

  const pct = progress && progress.total > 0 ? (progress.sent / progress.total) * 100 : 0;
  return (
    <section className="card" aria-labelledby="upload-title">
      <h2 id="upload-title" className="card-title">
        Upload an image
      </h2>
      <p className="muted">qcow2, raw or ISO. Images you upload are private to you and count against your images quota. A qcow2 must be self-contained (no backing file).</p>
      <form className="inline-form" onSubmit={onSubmit} noValidate data-testid="image-upload-form">
        <label className="field grow">
          <span>File</span>
          <input
            type="file"
            accept=".qcow2,.img,.raw,.iso"
            onChange={(e) => {
              const f = e.target.files?.[0] ?? null;
              setFile(f);
              if (f) {
                setFormat(guessFormat(f.name));
                if (!name) setName(f.name.replace(/\.[^.]+$/, ""));
              }
            }}
            data-testid="image-upload-file"
          />
        </label>
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} data-testid="image-upload-name" />
        </label>
        <label className="field">
          <span>Format</span>
          <select value={format} onChange={(e) => setFormat(e.target.value as Format)} data-testid="image-upload-format">
            <option value="qcow2">qcow2</option>
            <option value="raw">raw</option>
            <option value="iso">iso</option>
          </select>
        </label>
        <button type="submit" className="btn btn-primary" disabled={phase === "sending" || phase === "validating" || create.isPending} data-testid="image-upload-submit">
          Upload
        </button>
      </form>
      {progress ? (
        <div data-testid="image-upload-progress-block">
          <ProgressBar value={pct} label="upload progress" testId="image-upload-progress" />
          <p className="muted" data-testid="image-upload-status">
            {formatBytes(progress.sent)} of {formatBytes(progress.total)} ({Math.floor(pct)} %){phase === "validating" ? " — checking the image…" : ""}
            {phase === "done" && result ? ` — stored "${result.name}", sha256 ${result.sha256}` : ""}
          </p>
        </div>
      ) : null}
      {phase === "failed" && pending.current ? (
        <button type="button" className="btn btn-sm" onClick={() => void resume()} data-testid="image-upload-resume">
          Resume upload
        </button>
      ) : null}
      <FormError error={error} testId="image-upload-error" />
    </section>
  );
}

function ImageRow({ image, mine }: { image: Image; mine: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation(
    trpc.image.delete.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.image.list.queryKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.image.quota.queryKey() });
      },
    }),
  );
  return (
    <tr data-testid={`image-row-${image.name}`}>
      <td>
        <strong>{image.name}</strong>
        {image.description ? <div className="muted">{image.description}</div> : null}
      </td>
      <td>{image.format}</td>
      <td className="num">{formatBytes(image.sizeBytes)}</td>
      <td>{image.public ? "public" : "private"}</td>
      <td className="mono" title={image.sha256 ?? undefined}>
        {image.sha256 ? `${image.sha256.slice(0, 16)}…` : "—"}
      </td>
      <td className="nowrap muted">{formatDateTime(image.createdAt)}</td>
      <td className="actions">
        {mine ? (
          <>
            <button type="button" className="btn btn-sm btn-danger-outline" disabled={remove.isPending} onClick={() => setConfirming(true)} data-testid={`image-delete-${image.name}`}>
              Delete
            </button>
            <ConfirmDialog
              open={confirming}
              title={`Delete image ${image.name}?`}
              message="The file is removed. VMs made from it must be deleted first."
              confirmLabel="Delete"
              danger
              onConfirm={() => {
                setConfirming(false);
                remove.mutate({ id: image.id });
              }}
              onCancel={() => setConfirming(false)}
            />
            <FormError error={remove.error} />
          </>
        ) : null}
      </td>
    </tr>
  );
}

export function ImagesView() {
  const trpc = useTRPC();
  const images = useQuery(trpc.image.list.queryOptions());
  const quota = useQuery(trpc.image.quota.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  return (
    <div className="stack">
      <div className="page-head">
        <h1>Images</h1>
        {quota.data ? (
          <p className="muted" data-testid="images-quota">
            Your images: {formatBytes(quota.data.usedBytes)} of {quota.data.limitGiB} GiB
          </p>
        ) : null}
      </div>
      <UploadForm />
      <section className="card" aria-label="Images">
        {images.isPending ? (
          <Loading what="images" />
        ) : images.error ? (
          <FormError error={images.error} />
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="tenant-images-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Format</th>
                  <th className="num">Size</th>
                  <th>Visibility</th>
                  <th>sha256</th>
                  <th>Added</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {images.data.map((i) => (
                  <ImageRow key={i.id} image={i} mine={i.ownerId !== null && i.ownerId === me.data?.id} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
