"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import { classifyTicketError, useConsoleTicket, useVmStateReader, websocketUrl, type ConsoleKind, type ConsoleMode, type ConsoleTicket } from "./use-console-ticket";

export type ConsoleStatus = "idle" | "connecting" | "connected" | "stopped" | "expired" | "disconnected" | "error";

/** What a transport (noVNC, a raw WebSocket for serial) reports back to the session. */
export interface SessionHandlers {
  onOpen(): void;
  /** The socket closed: its close code and reason, and whether the transport itself refused to go on (e.g. RFB security failure). */
  onClose(code: number, reason: string, fatal?: string): void;
}

export interface Transport {
  close(): void;
}

/** A console target other than a VM: how to get its tickets and read its state. */
export interface ConsoleSource {
  openTicket(id: string, kind: ConsoleKind, mode: ConsoleMode): Promise<ConsoleTicket>;
  readState(id: string): Promise<{ state: string } | { missing: true } | null>;
}

export type Connect = (ticket: ConsoleTicket & { wsUrl: string }, handlers: SessionHandlers) => Transport | Promise<Transport>;

/** Close codes the console proxy sends (server/console/proxy.ts) that need more than "session over". */
const CLOSE = { TOO_BIG: 1009, ACCESS_REVOKED: 4003, VM_STOPPED: 4005, CONSOLE_LOST: 4006, PROTOCOL: 4007, TOO_SLOW: 4008, INPUT_FLOOD: 4009 } as const;

const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** A connection that lived this long resets the backoff: it was not a flapping one. */
const STABLE_MS = 10_000;

export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
}

/**
 * One console session with reconnects: a fresh ticket immediately before every attempt, exponential
 * backoff for transient failures, and no retries when retrying cannot help (VM stopped, session
 * closed by the server for idling or age, VM gone). A stopped VM reconnects by itself once `vmRunning`
 * turns true again.
 */
export function useConsoleSession(opts: {
  vmId: string;
  kind: ConsoleKind;
  mode: ConsoleMode;
  enabled: boolean;
  vmRunning?: boolean;
  /** Reconnect (with backoff) even after the server ended the session on purpose, e.g. idle thumbnails. */
  retryExpired?: boolean;
  connect: Connect;
  /** Where tickets and the target's state come from when it is not a VM (a submission viewer); keep it stable. */
  source?: ConsoleSource;
}) {
  const { vmId, kind, mode, enabled, vmRunning, retryExpired = false } = opts;
  const vmTicket = useConsoleTicket();
  const vmState = useVmStateReader();
  const openTicket = opts.source?.openTicket ?? vmTicket;
  const readVm = opts.source?.readState ?? vmState;
  const connectRef = useRef(opts.connect);
  connectRef.current = opts.connect;

  const [status, setStatus] = useState<ConsoleStatus>("idle");
  const [message, setMessage] = useState("");
  const [retryAt, setRetryAt] = useState<number | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const [generation, setGeneration] = useState(0);

  const failures = useRef(0);
  const statusRef = useRef(status);
  statusRef.current = status;

  const reconnect = useCallback(() => {
    failures.current = 0;
    setGeneration((g) => g + 1);
  }, []);

  useEffect(() => {
    if (!enabled) {
      setStatus("idle");
      setRetryAt(null);
      return;
    }
    let cancelled = false;
    let transport: Transport | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const settle = (s: ConsoleStatus, msg = "") => {
      setStatus(s);
      setMessage(msg);
      setRetryAt(null);
    };
    const scheduleRetry = (why: string) => {
      failures.current++;
      const delay = backoffMs(failures.current);
      setStatus("disconnected");
      setMessage(why);
      setRetryAt(Date.now() + delay);
      timer = setTimeout(() => void attempt(), delay);
    };
    /**
     * After a refused or dropped connection: the VM's state says whether retrying makes sense. With
     * "stopped" the proxy has just seen the VM stop (close 4005), which the VM row may not show yet
     * (the power-off operation records it after libvirt returns): the console is stopped either way.
     */
    const explain = async (fallback: "retry" | "expired" | "stopped", why: string) => {
      const vm = await readVm(vmId);
      if (cancelled) return;
      if (vm && "missing" in vm) settle("error", "VM not found: it was deleted or is not yours");
      else if (vm && vm.state !== "running") settle("stopped", vm.state);
      else if (fallback === "stopped") settle("stopped", "stopped");
      else if (fallback === "expired" && !retryExpired) settle("expired", why);
      else scheduleRetry(why);
    };

    const attempt = async () => {
      timer = null;
      settle("connecting");
      let ticket: ConsoleTicket;
      try {
        ticket = await openTicket(vmId, kind, mode);
      } catch (err) {
        if (cancelled) return;
        const f = classifyTicketError(err);
        if (f.reason === "stopped") void explain("retry", f.message).catch(() => settle("stopped"));
        else if (f.reason === "transient") scheduleRetry(f.message);
        else settle("error", f.message);
        return;
      }
      if (cancelled) return;
      let openedAt = 0;
      let done = false;
      const handlers: SessionHandlers = {
        onOpen() {
          if (cancelled || done) return;
          openedAt = Date.now();
          failures.current = 0;
          settle("connected");
        },
        onClose(code, reason, fatal) {
          if (cancelled || done) return;
          done = true;
          transport = null;
          if (openedAt && Date.now() - openedAt >= STABLE_MS) failures.current = 0;
          const why = reason || (code === 1006 ? "connection lost" : `closed (${code})`);
          if (fatal) settle("error", fatal);
          else if (code === CLOSE.ACCESS_REVOKED) settle("error", "access to this console was revoked");
          else if (code === CLOSE.PROTOCOL) settle("error", `the portal closed the console: ${why}`);
          // Retrying would send the same again: say what was refused instead.
          else if (code === CLOSE.TOO_BIG) settle("error", "the portal closed the console: a message over 1 MiB (is the pasted text that large?)");
          else if (code === CLOSE.INPUT_FLOOD) settle("error", "the portal closed the console: it was sent more input than it accepts");
          // A watcher that fell behind (slow network): a fresh connection starts from the present.
          else if (code === CLOSE.TOO_SLOW) void explain("retry", why);
          else if (code === CLOSE.CONSOLE_LOST) void explain("retry", why);
          else if (code === CLOSE.VM_STOPPED) void explain("stopped", why);
          // Other 4xxx: the server ended the session on purpose (VM stopped or deleted, idle, too long).
          else if (code >= 4000 && code < 5000) void explain("expired", why);
          else void explain("retry", why);
        },
      };
      try {
        const t = await connectRef.current({ ...ticket, wsUrl: websocketUrl(ticket.url) }, handlers);
        if (cancelled) t.close();
        else transport = t;
      } catch (err) {
        if (!cancelled) scheduleRetry(err instanceof Error ? err.message : String(err));
      }
    };

    void attempt();
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
      transport?.close();
      transport = null;
    };
  }, [enabled, vmId, kind, mode, retryExpired, generation, openTicket, readVm]);

  // A stopped VM that starts again: connect without being asked.
  useEffect(() => {
    if (vmRunning && statusRef.current === "stopped") reconnect();
  }, [vmRunning, reconnect]);

  // The countdown in "retrying in Ns".
  useEffect(() => {
    if (retryAt === null) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [retryAt]);

  const retryInS = retryAt === null ? null : Math.max(0, Math.ceil((retryAt - now) / 1000));
  return { status, message, retryInS, reconnect };
}

/** The status line's words for a session state. */
export function statusText(status: ConsoleStatus, message: string, retryInS: number | null): string {
  switch (status) {
    case "idle":
      return "not connected";
    case "connecting":
      return "connecting…";
    case "connected":
      return "connected";
    case "stopped":
      return message === "paused" ? "VM is paused — resume it" : message === "stopped" || message === "" ? "VM is stopped — start it" : `VM is ${message}`;
    case "expired":
      return "session expired — reconnect";
    case "disconnected":
      return retryInS !== null ? `disconnected — retrying in ${retryInS}s` : "disconnected";
    case "error":
      return message || "console unavailable";
  }
}
