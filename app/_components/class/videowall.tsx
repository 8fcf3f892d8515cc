"use client";

import "./class.css";
import Link from "next/link";
import { useState } from "react";
import { errorCode } from "../../_lib/trpc";
import { StateBadge } from "../state-badge";
import { FormError, Loading } from "../ui";
import { ConsoleViewer, type ViewerTarget } from "./console-viewer";
import { useClass } from "./use-class";
import { ViewOnlyScreen } from "./view-only-screen";

/**
 * Live tiles per page. Each is a console session, and sessions count against the server's per-user
 * cap (VMDESK_CONSOLE_MAX_PER_USER, default 10): a page of 8 leaves room for the full viewer.
 */
const TILES_PER_PAGE = 8;

/** Every running student VM's screen, live and view-only; a click opens the full console (view-only until "Take control"). */
export function Videowall({ id }: { id: string }) {
  const { query } = useClass(id);
  const [page, setPage] = useState(0);
  const [viewing, setViewing] = useState<string | null>(null);
  const code = errorCode(query.error);
  if (code === "NOT_FOUND" || code === "BAD_REQUEST")
    return (
      <div className="notice notice-error" role="alert" data-testid="class-not-found">
        <strong>Class not found.</strong> <Link href="/classes">Back to classes</Link>
      </div>
    );
  if (query.isPending) return <Loading what="class" />;
  if (!query.data) return <FormError error={query.error} />;
  const c = query.data;
  const running = c.students.filter((s) => s.vmId && s.state === "running");
  const pages = Math.max(1, Math.ceil(running.length / TILES_PER_PAGE));
  const current = Math.min(page, pages - 1);
  const shown = running.slice(current * TILES_PER_PAGE, (current + 1) * TILES_PER_PAGE);
  const notRunning = c.students.length - running.length;
  const viewed = c.students.find((s) => s.userId === viewing);
  const target: ViewerTarget | null = viewed?.vmId && viewed.state ? { vmId: viewed.vmId, username: viewed.username, displayName: viewed.displayName, state: viewed.state, guestReady: viewed.guestReady } : null;

  return (
    <div className="wall-page" data-testid="videowall" data-class-id={c.id}>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href="/classes">Classes</Link> <span aria-hidden="true">/</span> <Link href={`/classes/${c.id}`}>{c.name}</Link> <span aria-hidden="true">/</span> Videowall
      </nav>
      <div className="page-head">
        <div>
          <h1>{c.name} — videowall</h1>
          <span className="pill pill-grey">view only</span>
          {c.frozenAt ? <span className="badge badge-amber">frozen</span> : null}
        </div>
        <div className="page-head-actions">
          <span className="muted" data-testid="wall-count">
            {running.length} running{notRunning ? ` · ${notRunning} not running` : ""}
          </span>
          {pages > 1 ? (
            <span className="row-actions" data-testid="wall-pages">
              <button type="button" className="btn btn-sm" disabled={current === 0} onClick={() => setPage(current - 1)}>
                ‹
              </button>
              {current + 1}/{pages}
              <button type="button" className="btn btn-sm" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
                ›
              </button>
            </span>
          ) : null}
        </div>
      </div>
      {running.length === 0 ? (
        <div className="empty" data-testid="wall-empty">
          <p>No student VM is running.</p>
          <Link href={`/classes/${c.id}`}>Back to the class</Link>
        </div>
      ) : (
        <ul className="wall-grid">
          {shown.map((s) => (
            <li key={s.userId} className="wall-tile" data-testid="wall-tile" data-username={s.username} data-state={s.state ?? "none"} data-vm-id={s.vmId ?? undefined}>
              <button type="button" className="wall-tile-screen" onClick={() => setViewing(s.userId)} aria-label={`Open the console of ${s.displayName || s.username} (view only)`} data-testid="wall-open">
                <ViewOnlyScreen vmId={s.vmId!} vmRunning={s.state === "running"} size="tile" />
              </button>
              <div className="wall-tile-foot">
                <span className="wall-tile-name" title={s.username}>
                  {s.displayName || s.username}
                </span>
                <StateBadge state={s.state ?? "none"} guestReadyAt={s.guestReady ? new Date(0) : null} />
              </div>
            </li>
          ))}
        </ul>
      )}
      {target ? <ConsoleViewer target={target} onClose={() => setViewing(null)} /> : null}
    </div>
  );
}
