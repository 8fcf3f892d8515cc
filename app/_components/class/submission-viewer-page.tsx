"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMemo } from "react";
import { formatDateTime } from "../../_lib/format";
import { errorCode, useTRPC, useTRPCClient } from "../../_lib/trpc";
import type { ConsoleSource } from "../console/use-console-session";
import { FormError, Loading } from "../ui";
import { ViewOnlyScreen } from "./view-only-screen";

/**
 * A student's submission booted in a viewer: its console, view-only (the server drops all input),
 * while the viewer runs; "Close" discards it (its domain and disk).
 */
export function SubmissionViewerPage({ classId, viewerId }: { classId: string; viewerId: string }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const router = useRouter();
  const viewer = useQuery({ ...trpc.submission.viewer.queryOptions({ viewerId }), refetchInterval: (q) => (q.state.data?.state === "running" ? 5_000 : 1_000) });
  const close = useMutation(trpc.submission.close.mutationOptions({ onSuccess: () => router.push(`/classes/${classId}`) }));
  const source: ConsoleSource = useMemo(
    () => ({
      openTicket: (id, kind) => client.submission.console.mutate({ viewerId: id, kind }),
      readState: async (id) => {
        try {
          const v = await client.submission.viewer.query({ viewerId: id });
          return { state: v.state };
        } catch (err) {
          return errorCode(err) === "NOT_FOUND" ? { missing: true } : null;
        }
      },
    }),
    [client],
  );
  if (viewer.isLoading) return <Loading what="submission" />;
  if (!viewer.data) return <FormError error={viewer.error} testId="submission-viewer-error" />;
  const v = viewer.data;
  return (
    <div className="page" data-testid="submission-viewer" data-state={v.state}>
      <nav className="breadcrumbs">
        <Link href={`/classes/${classId}`}>Class</Link> <span aria-hidden="true">/</span> Submission
      </nav>
      <div className="row-actions">
        <span className="pill pill-grey">view only</span>
        <span className="muted">
          {v.state === "creating" ? "copying the submission and booting it…" : v.state} · closes by itself {formatDateTime(v.expiresAt)}
        </span>
        {v.state === "creating" || v.state === "running" ? (
          <button type="button" className="btn" disabled={close.isPending} onClick={() => close.mutate({ viewerId })} data-testid="submission-viewer-close">
            Close
          </button>
        ) : null}
      </div>
      {v.error ? <p className="notice notice-warn">{v.error}</p> : null}
      <FormError error={close.error} testId="submission-close-error" />
      <ViewOnlyScreen vmId={viewerId} vmRunning={v.state === "running"} size="full" source={source} />
    </div>
  );
}
