"use client";

import { useInfiniteQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { StatusPill } from "../../_components/state-badge";
import { FormError, Loading } from "../../_components/ui";
import { formatDateTime } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";

const PAGE_SIZE = 50;

function detailText(detail: unknown): string {
  if (detail === null || detail === undefined) return "";
  if (typeof detail !== "object") return String(detail);
  return Object.entries(detail as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" · ");
}

export function AuditAdmin() {
  const trpc = useTRPC();
  const [filterInput, setFilterInput] = useState("");
  const [action, setAction] = useState<string | undefined>(undefined);
  const audit = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions({ limit: PAGE_SIZE, action }, { getNextPageParam: (page) => page.nextCursor }),
  );
  const rows = audit.data?.pages.flatMap((p) => p.items) ?? [];

  function onFilter(e: FormEvent) {
    e.preventDefault();
    setAction(filterInput.trim() || undefined);
  }

  return (
    <>
      <div className="page-head">
        <h1>Audit log</h1>
        <form className="inline-form" onSubmit={onFilter} role="search">
          <label className="field">
            <span>Action</span>
            <input value={filterInput} onChange={(e) => setFilterInput(e.target.value)} placeholder="e.g. vm.create" data-testid="audit-filter-action" />
          </label>
          <button type="submit" className="btn" data-testid="audit-filter-submit">
            Filter
          </button>
        </form>
      </div>
      <section className="card" aria-label="Audit events">
        {audit.isPending ? (
          <Loading what="audit events" />
        ) : audit.error && rows.length === 0 ? (
          <FormError error={audit.error} />
        ) : rows.length === 0 ? (
          <p className="muted">No events{action ? ` for “${action}”` : ""}.</p>
        ) : (
          <>
            <div className="table-wrap">
              <table className="table" data-testid="audit-table">
                <thead>
                  <tr>
                    <th>Time</th>
                    <th>Who</th>
                    <th>Action</th>
                    <th>Target</th>
                    <th>Result</th>
                    <th title="aggregated rows: how many times, until when">Count</th>
                    <th>Detail</th>
                    <th>IP</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((e) => (
                    <tr key={e.id} data-testid="audit-row" data-action={e.action} data-result={e.result}>
                      <td className="nowrap">{formatDateTime(e.at)}</td>
                      <td>{e.actorName ?? <span className="muted">system</span>}</td>
                      <td className="mono">{e.action}</td>
                      <td>
                        {e.targetType ? (
                          <>
                            {e.targetType} <span className="mono muted">{e.targetId}</span>
                          </>
                        ) : (
                          "—"
                        )}
                      </td>
                      <td>
                        <StatusPill status={e.result} />
                      </td>
                      <td className="num" data-testid="audit-count" title={e.lastAt ? `last at ${formatDateTime(e.lastAt)}` : undefined}>
                        {e.count > 1 ? `× ${e.count}` : ""}
                      </td>
                      <td className="cell-detail">{detailText(e.detail)}</td>
                      <td className="mono muted">{e.ip ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <FormError error={audit.error} />
            <div className="table-foot">
              {audit.hasNextPage ? (
                <button type="button" className="btn" onClick={() => void audit.fetchNextPage()} disabled={audit.isFetchingNextPage} data-testid="audit-load-more">
                  {audit.isFetchingNextPage ? "Loading…" : "Load more"}
                </button>
              ) : (
                <span className="muted" data-testid="audit-end">
                  {rows.length} events · end of log
                </span>
              )}
            </div>
          </>
        )}
      </section>
    </>
  );
}
