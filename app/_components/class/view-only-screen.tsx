"use client";

import { useMemo, useRef } from "react";
import { viewOnlyConnect } from "../console/view-only-connect";
import { statusText, useConsoleSession, type Connect, type ConsoleSource } from "../console/use-console-session";

/**
 * A VM's screen in a `view` console session: the ticket names the mode, and the server's proxy drops
 * every input event, so nothing typed or clicked here can reach the guest (noVNC's viewOnly only
 * saves the bandwidth).
 */
export function ViewOnlyScreen({ vmId, vmRunning, size, source }: { vmId: string; vmRunning: boolean; size: "tile" | "full"; source?: ConsoleSource }) {
  const screenRef = useRef<HTMLDivElement>(null);
  const connect: Connect = useMemo(() => viewOnlyConnect(screenRef, size === "tile"), [size]);
  const session = useConsoleSession({ vmId, kind: "vnc", mode: "view", enabled: vmRunning, vmRunning, retryExpired: size === "tile", connect, source });
  const shown = vmRunning ? session.status : "stopped";
  return (
    <div className={`view-screen view-screen-${size}`} data-status={shown}>
      <div ref={screenRef} className="view-screen-canvas" data-testid={size === "tile" ? "wall-canvas" : "viewer-canvas"} data-connected={shown === "connected" ? "true" : "false"} aria-hidden="true" />
      {shown !== "connected" ? (
        <span className="view-screen-label">
          {shown === "stopped" ? "not running" : statusText(shown, session.message, session.retryInS)}
          {shown === "expired" || shown === "error" || (shown === "disconnected" && size === "full") ? (
            <button type="button" className="btn-link" onClick={session.reconnect}>
              {" "}
              reconnect
            </button>
          ) : null}
        </span>
      ) : null}
    </div>
  );
}
