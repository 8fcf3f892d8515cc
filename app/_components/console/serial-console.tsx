"use client";

import "@xterm/xterm/css/xterm.css";
import type { FitAddon } from "@xterm/addon-fit";
import type { Terminal } from "@xterm/xterm";
import { useCallback, useEffect, useRef, useState } from "react";
import { ConsoleStatusLine } from "./console-status";
import { useConsoleSession, type Connect } from "./use-console-session";

const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

/**
 * The VM's serial port in xterm.js: raw bytes both ways over a ticketed WebSocket. The terminal
 * survives reconnects, so scrollback from earlier sessions stays on screen.
 */
export function SerialConsole({ vmId, vmState, vmBusy = false }: { vmId: string; vmState: string; vmBusy?: boolean }) {
  const hostRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<{ term: Terminal; fit: FitAddon } | null>(null);
  const [termReady, setTermReady] = useState(false);
  const socketRef = useRef<WebSocket | null>(null);

  useEffect(() => {
    let disposed = false;
    let observer: ResizeObserver | null = null;
    void Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]).then(([{ Terminal }, { FitAddon }]) => {
      const host = hostRef.current;
      if (disposed || !host) return;
      const term = new Terminal({ cursorBlink: true, convertEol: false, scrollback: 5000, fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace", fontSize: 14, theme: { background: "#0b0f17" } });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(host);
      fit.fit();
      const encoder = new TextEncoder();
      term.onData((data) => {
        const ws = socketRef.current;
        if (ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
      });
      term.onBinary((data) => {
        const ws = socketRef.current;
        if (ws?.readyState === WebSocket.OPEN) ws.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
      });
      observer = new ResizeObserver(() => fit.fit());
      observer.observe(host);
      termRef.current = { term, fit };
      setTermReady(true);
    });
    return () => {
      disposed = true;
      observer?.disconnect();
      termRef.current?.term.dispose();
      termRef.current = null;
    };
  }, []);

  const connect: Connect = useCallback((ticket, handlers) => {
    const t = termRef.current;
    if (!t) throw new Error("the terminal is not ready");
    const ws = new WebSocket(ticket.wsUrl, ticket.protocols);
    ws.binaryType = "arraybuffer";
    ws.addEventListener("open", () => {
      socketRef.current = ws;
      handlers.onOpen();
      t.term.write(`${DIM}[connected to the serial console: press Enter for a prompt]${RESET}\r\n`);
      t.term.focus();
    });
    ws.addEventListener("message", (e: MessageEvent<ArrayBuffer | string>) => t.term.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data)));
    ws.addEventListener("close", (e) => {
      if (socketRef.current === ws) {
        socketRef.current = null;
        t.term.write(`\r\n${DIM}[disconnected]${RESET}\r\n`);
      }
      handlers.onClose(e.code, e.reason);
    });
    return {
      close() {
        if (socketRef.current === ws) socketRef.current = null;
        ws.close();
      },
    };
  }, []);

  const session = useConsoleSession({ vmId, kind: "serial", mode: "control", enabled: termReady, vmRunning: vmState === "running", connect });

  return (
    <div className="console-frame console-frame-page" data-testid="serial-console" data-vm-id={vmId}>
      <div className="console-toolbar" role="toolbar" aria-label="Serial console controls">
        <button type="button" className="btn btn-sm" onClick={() => termRef.current?.term.clear()} data-testid="serial-clear">
          Clear
        </button>
        <button type="button" className="btn btn-sm" onClick={session.reconnect} data-testid="console-reconnect">
          Reconnect
        </button>
      </div>
      <ConsoleStatusLine vmId={vmId} status={session.status} message={session.message} retryInS={session.retryInS} onReconnect={session.reconnect} canStart={!vmBusy && (vmState === "stopped" || vmState === "paused")} />
      <div ref={hostRef} className="serial-screen" data-testid="serial-terminal" />
    </div>
  );
}
