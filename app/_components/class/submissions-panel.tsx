"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { formatDateTime } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { FormError } from "../ui";
import type { ClassDetail } from "./use-class";

/**
 * A frozen class's submissions: per student "View submission" (boots the submission in a throwaway
 * viewer and opens its view-only console page), the open viewers with "Close", and "Export
 * submissions" (the worker writes one qcow2 per student; a link downloads them as one tar).
 */
export function Submissions({ c }: { c: ClassDetail }) {
  const trpc = useTRPC();
  const router = useRouter();
  const [exportId, setExportId] = useState<string | null>(null);
  const hasSubmission = c.checkpoints.some((cp) => cp.kind === "submission");
  const viewers = useQuery({ ...trpc.submission.viewers.queryOptions({ id: c.id }), enabled: hasSubmission, refetchInterval: 3_000 });
  const view = useMutation(trpc.submission.view.mutationOptions({ onSuccess: (v) => router.push(`/classes/${c.id}/submissions/${v.id}`) }));
  const close = useMutation(trpc.submission.close.mutationOptions({ onSuccess: () => void viewers.refetch() }));
  const requestExport = useMutation(trpc.submission.export.mutationOptions({ onSuccess: (e) => setExportId(e.id) }));
  const exp = useQuery({
    ...trpc.submission.exportStatus.queryOptions({ id: c.id, exportId: exportId ?? "00000000-0000-0000-0000-000000000000" }),
    enabled: exportId !== null,
    refetchInterval: (q) => (q.state.data?.state === "preparing" ? 1_000 : false),
  });
  if (!hasSubmission) return null;
  const withVm = c.students.filter((s) => s.vmId);
  const e = exp.data;
  return (
    <section className="card" aria-labelledby="submissions-title" data-testid="submissions">
      <h2 id="submissions-title" className="card-title">
        Submissions
      </h2>
      <p className="hint">Each opens a copy of the student’s “submission” snapshot, view-only; the student’s VM is not touched. Viewers close by themselves after 30 minutes.</p>
      <table className="table table-compact">
        <tbody>
          {withVm.map((s) => (
            <tr key={s.userId} data-testid="submission-row" data-username={s.username}>
              <td>{s.displayName || s.username}</td>
              <td>
                <button type="button" className="btn btn-sm" disabled={view.isPending} onClick={() => view.mutate({ id: c.id, vmId: s.vmId! })} data-testid="submission-view">
                  View submission
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {viewers.data && viewers.data.length > 0 ? (
        <ul className="plain-list" data-testid="submission-viewers">
          {viewers.data.map((v) => {
            const student = c.students.find((s) => s.vmId === v.vmId);
            return (
              <li key={v.id}>
                <a href={`/classes/${c.id}/submissions/${v.id}`}>{student?.username ?? "student"}</a> <span className="muted">{v.state} · until {formatDateTime(v.expiresAt)}</span>{" "}
                {v.state !== "closing" ? (
                  <button type="button" className="btn btn-sm" disabled={close.isPending} onClick={() => close.mutate({ viewerId: v.id })} data-testid="submission-close">
                    Close
                  </button>
                ) : null}
              </li>
            );
          })}
        </ul>
      ) : null}
      <div className="row-actions">
        <button type="button" className="btn" disabled={requestExport.isPending || e?.state === "preparing"} onClick={() => requestExport.mutate({ id: c.id })} data-testid="submission-export">
          Export submissions
        </button>
        {e?.state === "preparing" ? <span className="muted">preparing…</span> : null}
        {e?.downloadUrl ? (
          <a className="btn btn-primary" href={e.downloadUrl} download data-testid="submission-download">
            Download ({e.files.length} disk{e.files.length === 1 ? "" : "s"})
          </a>
        ) : null}
        {e?.state === "failed" ? <span className="notice notice-warn">{e.error}</span> : null}
      </div>
      {e?.skipped.length ? <p className="notice notice-warn">Not included: {e.skipped.map((s) => `${s.username} (${s.reason})`).join(", ")}.</p> : null}
      <FormError error={view.error ?? close.error ?? requestExport.error} testId="submission-error" />
    </section>
  );
}
