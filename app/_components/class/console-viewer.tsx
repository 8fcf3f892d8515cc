"use client";

import Link from "next/link";
import { useEffect, useState } from "react";
import { StateBadge } from "../state-badge";
import { VncConsole } from "../console/vnc-console";
import { ViewOnlyScreen } from "./view-only-screen";

export interface ViewerTarget {
  vmId: string;
  username: string;
  displayName: string;
  state: string;
  guestReady: boolean;
}

/**
 * A student's console over the class page or the videowall: view-only first; "Take control" is an
 * explicit click that opens a `control` session instead (the server audits each session's mode).
 */
export function ConsoleViewer({ target, onClose }: { target: ViewerTarget; onClose: () => void }) {
  const [mode, setMode] = useState<"view" | "control">("view");
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && mode === "view") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [mode, onClose]);
  const running = target.state === "running";
  return (
    <div className="viewer-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div className="viewer" role="dialog" aria-modal="true" aria-label={`Console of ${target.username}`} data-testid="console-viewer" data-mode={mode} data-vm-id={target.vmId}>
        <div className="viewer-head">
          <div className="viewer-title">
            <strong>{target.displayName || target.username}</strong>
            <span className="muted">{target.username}</span>
            <StateBadge state={target.state} guestReadyAt={target.guestReady ? new Date(0) : null} />
            <span className={mode === "view" ? "pill pill-grey" : "pill pill-amber"} data-testid="viewer-mode">
              {mode === "view" ? "view only" : "in control"}
            </span>
          </div>
          <div className="row-actions">
            {mode === "view" ? (
              <button type="button" className="btn btn-sm btn-primary" disabled={!running} onClick={() => setMode("control")} data-testid="take-control" title="Your keyboard and mouse reach the student's VM; the session is audited">
                Take control
              </button>
            ) : (
              <button type="button" className="btn btn-sm" onClick={() => setMode("view")} data-testid="release-control">
                Back to view only
              </button>
            )}
            <Link href={`/vms/${target.vmId}`} className="btn btn-sm">
              VM details
            </Link>
            <button type="button" className="btn btn-sm btn-ghost" aria-label="Close" onClick={onClose} data-testid="viewer-close">
              ✕
            </button>
          </div>
        </div>
        {mode === "view" ? <ViewOnlyScreen key="view" vmId={target.vmId} vmRunning={running} size="full" /> : <VncConsole key="control" vmId={target.vmId} vmState={target.state} variant="inline" />}
      </div>
    </div>
  );
}
