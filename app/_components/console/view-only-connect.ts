import type { RefObject } from "react";
import { loadRfb } from "./load-novnc";
import type { Connect } from "./use-console-session";

/**
 * Connects a view-only noVNC screen into `screenRef` over a `view` ticket. The server's proxy drops
 * every input event of such a session; noVNC's viewOnly only saves the bandwidth. `lowBandwidth`
 * trades picture quality for less traffic (thumbnails, videowall tiles).
 */
export function viewOnlyConnect(screenRef: RefObject<HTMLElement | null>, lowBandwidth: boolean): Connect {
  return async (ticket, handlers) => {
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
    if (lowBandwidth) {
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
  };
}
