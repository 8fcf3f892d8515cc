"use client";

import Link from "next/link";
import { useCallback, useEffect, useRef, useState, type RefObject } from "react";
import { loadRfb } from "./load-novnc";
import { useConsoleSession, type Connect } from "./use-console-session";

/** How long a card may stay scrolled out of view before its thumbnail lets go of its session. */
const HIDDEN_GRACE_MS = 5_000;

/**
 * A small live picture of a running VM's screen on its dashboard card. It holds a view-only session
 * (the server drops any input) and connects only while the card is on screen.
 */
export function ConsoleThumbnail({ vmId, name }: { vmId: string; name: string }) {
  const boxRef = useRef<HTMLAnchorElement>(null);
  const screenRef = useRef<HTMLDivElement>(null);
  const visible = useVisible(boxRef);

  const connect: Connect = useCallback(async (ticket, handlers) => {
    const RFBClass = await loadRfb();
    const target = screenRef.current;
    if (!target) throw new Error("the thumbnail is no longer on the page");
    const ws = new WebSocket(ticket.wsUrl, ticket.protocols);
    ws.addEventListener("close", (e) => handlers.onClose(e.code, e.reason));
    const rfb = new RFBClass(target, ws, { shared: true });
    rfb.viewOnly = true;
    rfb.focusOnClick = false;
    rfb.scaleViewport = true;
    rfb.showDotCursor = false;
    rfb.qualityLevel = 2;
    rfb.compressionLevel = 6;
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
  }, []);

  const { status } = useConsoleSession({ vmId, kind: "vnc", mode: "view", enabled: visible, retryExpired: true, connect });
  return (
    <Link ref={boxRef} href={`/vms/${vmId}/console`} className="console-thumb" data-testid="console-thumbnail" data-status={status} aria-label={`Open the console of ${name}`} title="Open the console">
      <div ref={screenRef} className="console-thumb-screen" aria-hidden="true" />
      {status !== "connected" ? <span className="console-thumb-label">{status === "connecting" || status === "idle" ? "console…" : status === "stopped" ? "not running" : "no picture"}</span> : null}
    </Link>
  );
}

/** True while the element is on screen, and for a short grace period after it leaves. */
function useVisible(ref: RefObject<Element | null>): boolean {
  const [visible, setVisible] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof IntersectionObserver === "undefined") return;
    let hideTimer: ReturnType<typeof setTimeout> | null = null;
    const io = new IntersectionObserver(
      (entries) => {
        const on = entries.some((e) => e.isIntersecting);
        if (hideTimer) clearTimeout(hideTimer);
        hideTimer = null;
        if (on) setVisible(true);
        else hideTimer = setTimeout(() => setVisible(false), HIDDEN_GRACE_MS);
      },
      { rootMargin: "100px" },
    );
    io.observe(el);
    return () => {
      io.disconnect();
      if (hideTimer) clearTimeout(hideTimer);
    };
  }, [ref]);
  return visible;
}
