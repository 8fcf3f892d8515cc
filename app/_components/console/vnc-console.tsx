"use client";

import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { ConsoleStatusLine } from "./console-status";
import { ConsoleToolbar, type ScaleMode } from "./console-toolbar";
import { sendCombo, typeText, type Key } from "./keys";
import { loadRfb, type RFB } from "./load-novnc";
import { useConsoleSession, type Connect } from "./use-console-session";

/**
 * The VM's graphical console through vmdesk's websocket proxy. noVNC gets a WebSocket we open
 * ourselves, so the close code the server sends (4xxx: session ended on purpose) reaches the session
 * logic, which noVNC's own events do not report.
 */
/** `vmBusy`: an operation is running on the VM (its Start would be refused until it ends). */
export function VncConsole({ vmId, vmState, vmBusy = false, variant = "inline", extra }: { vmId: string; vmState: string; vmBusy?: boolean; variant?: "inline" | "page"; extra?: ReactNode }) {
  const frameRef = useRef<HTMLDivElement>(null);
  const screenRef = useRef<HTMLDivElement>(null);
  const rfbRef = useRef<RFB | null>(null);
  const [scale, setScale] = useState<ScaleMode>("fit");
  const scaleRef = useRef(scale);
  const focusOnConnect = useRef(variant === "page");
  scaleRef.current = scale;
  const [fullscreen, setFullscreen] = useState(false);
  const [typing, setTyping] = useState<{ done: number; total: number } | null>(null);
  const typingAbort = useRef<AbortController | null>(null);

  const connect: Connect = useCallback(async (ticket, handlers) => {
    const RFBClass = await loadRfb();
    const target = screenRef.current;
    if (!target) throw new Error("the console is no longer on the page");
    const ws = new WebSocket(ticket.wsUrl, ticket.protocols);
    let fatal: string | undefined;
    // Registered before noVNC attaches, so the code is known before noVNC reports the disconnect.
    ws.addEventListener("close", (e) => handlers.onClose(e.code, e.reason, fatal));
    const rfb = new RFBClass(target, ws, { shared: true });
    rfb.scaleViewport = scaleRef.current === "fit";
    rfb.resizeSession = false;
    rfb.background = "#0b0f17";
    rfb.addEventListener("connect", () => {
      rfbRef.current = rfb;
      handlers.onOpen();
      // The full page is the console: keys go to the guest at once. Inline, a click gives it focus.
      if (focusOnConnect.current) rfb.focus({ preventScroll: true });
    });
    rfb.addEventListener("securityfailure", (e) => {
      fatal = `VNC security failure${e.detail.reason ? `: ${e.detail.reason}` : ""}`;
    });
    return {
      close() {
        if (rfbRef.current === rfb) rfbRef.current = null;
        try {
          rfb.disconnect();
        } catch {
          ws.close();
        }
      },
    };
  }, []);

  const session = useConsoleSession({ vmId, kind: "vnc", mode: "control", enabled: true, vmRunning: vmState === "running", connect });
  const connected = session.status === "connected";
  useEffect(() => {
    if (!connected) {
      typingAbort.current?.abort();
      rfbRef.current = null;
    }
  }, [connected]);

  useEffect(() => {
    if (rfbRef.current) rfbRef.current.scaleViewport = scale === "fit";
  }, [scale]);

  useEffect(() => {
    const onChange = () => setFullscreen(document.fullscreenElement === frameRef.current);
    document.addEventListener("fullscreenchange", onChange);
    return () => document.removeEventListener("fullscreenchange", onChange);
  }, []);

  useEffect(() => () => typingAbort.current?.abort(), []);

  const withRfb = (fn: (rfb: RFB) => void) => {
    const rfb = rfbRef.current;
    if (!rfb) return;
    fn(rfb);
    rfb.focus({ preventScroll: true });
  };

  async function paste(text: string) {
    const rfb = rfbRef.current;
    if (!rfb) return;
    const abort = new AbortController();
    typingAbort.current = abort;
    const total = Array.from(text).length;
    setTyping({ done: 0, total });
    try {
      await typeText(rfb, text, { signal: abort.signal, onProgress: (done) => setTyping({ done, total }) });
    } finally {
      setTyping(null);
      if (typingAbort.current === abort) typingAbort.current = null;
      if (rfbRef.current === rfb) rfb.focus({ preventScroll: true });
    }
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void frameRef.current?.requestFullscreen().catch(() => undefined);
  }

  return (
    <div ref={frameRef} className={`console-frame console-frame-${variant}`} data-testid="vnc-console" data-vm-id={vmId}>
      <ConsoleToolbar
        canSend={connected}
        onCtrlAltDel={() => withRfb((r) => r.sendCtrlAltDel())}
        onCombo={(keys: Key[]) => withRfb((r) => sendCombo(r, keys))}
        onPaste={(t) => void paste(t)}
        typing={typing}
        onCancelTyping={() => typingAbort.current?.abort()}
        fullscreen={fullscreen}
        onFullscreen={toggleFullscreen}
        scale={scale}
        onScale={() => setScale((s) => (s === "fit" ? "native" : "fit"))}
        onReconnect={session.reconnect}
        extra={extra}
      />
      <ConsoleStatusLine vmId={vmId} status={session.status} message={session.message} retryInS={session.retryInS} onReconnect={session.reconnect} canStart={!vmBusy && (vmState === "stopped" || vmState === "paused")} />
      <div ref={screenRef} className="console-screen" data-testid="console-canvas-container" data-connected={connected ? "true" : "false"} />
    </div>
  );
}
