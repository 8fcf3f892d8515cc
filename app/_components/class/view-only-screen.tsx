"use client";

import { useCallback, useRef } from "react";
import { loadRfb } from "../console/load-novnc";
import { statusText, useConsoleSession, type Connect } from "../console/use-console-session";

/**
 * A VM's screen in a `view` console session: the ticket names the mode, and the server's proxy drops
 * every input event, so nothing typed or clicked here can reach the guest (noVNC's viewOnly only
 * saves the bandwidth).
 */
export function ViewOnlyScreen({ vmId, vmRunning, size }: { vmId: string; vmRunning: boolean; size: "tile" | "full" }) {
  const screenRef = useRef<HTMLDivElement>(null);
  const connect: Connect = useCallback(
    async (ticket, handlers) => {
      const RFBClass = await loadRfb();
      const target = screenRef.current;
      if (!target) throw new Error("the screen is no longer on the page");
      const ws = new WebSocket(ticket.wsUrl, ticket.protocols);
      ws.addEventListener("close", (e) => handlers.onClose(e.code, e.reason));
      const rfb = new RFBClass(target, ws, { shared: true });
      rfb.viewOnly = true;
      rfb.focusOnClick = false;
      rfb.scaleViewport = true;
      rfb.showDotCursor = false;
      if (size === "tile") {
        rfb.qualityLevel = 2;
        rfb.compressionLevel = 6;
      }
      rfb.background = "#0b0f17";
      rfb.addEventListener("connect", () => handlers.onOpen());
      return {
        close() {
          try {
            rfb.disconnect();
          } catch {
            ws.close();
          }
        },
      };
    },
    [size],
  );
  const session = useConsoleSession({ vmId, kind: "vnc", mode: "view", enabled: vmRunning, vmRunning, retryExpired: size === "tile", connect });
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
