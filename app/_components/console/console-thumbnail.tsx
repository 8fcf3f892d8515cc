"use client";

import Link from "next/link";
import { useEffect, useMemo, useRef, useState, type RefObject } from "react";
import { viewOnlyConnect } from "./view-only-connect";
import { useConsoleSession, type Connect } from "./use-console-session";

/** How long a card may stay scrolled out of view before its thumbnail lets go of its session. */
const HIDDEN_GRACE_MS = 5_000;
/**
 * Thumbnails live at once per page. Sessions count against the server's per-user cap
 * (VMDESK_CONSOLE_MAX_PER_USER, default 10): a long dashboard must leave room for a real console.
 */
const MAX_LIVE_THUMBNAILS = 6;

const slotHolders = new Set<symbol>();
const slotWaiters = new Set<() => void>();

/** A slot among the page's live thumbnails while `wanted`; cards beyond the limit wait their turn. */
function useThumbnailSlot(wanted: boolean): boolean {
  const [held, setHeld] = useState(false);
  useEffect(() => {
    if (!wanted) return;
    const me = Symbol("thumbnail");
    const tryTake = () => {
      if (slotHolders.has(me) || slotHolders.size >= MAX_LIVE_THUMBNAILS) return;
      slotHolders.add(me);
      slotWaiters.delete(tryTake);
      setHeld(true);
    };
    slotWaiters.add(tryTake);
    tryTake();
    return () => {
      slotWaiters.delete(tryTake);
      setHeld(false);
      if (slotHolders.delete(me)) for (const w of [...slotWaiters]) w();
    };
  }, [wanted]);
  return held;
}

/**
 * A small live picture of a running VM's screen on its dashboard card. It holds a view-only session
 * (the server drops any input) and connects only while the card is on screen.
 */
export function ConsoleThumbnail({ vmId, name }: { vmId: string; name: string }) {
  const boxRef = useRef<HTMLAnchorElement>(null);
  const screenRef = useRef<HTMLDivElement>(null);
  const visible = useVisible(boxRef);
  const live = useThumbnailSlot(visible);

  const connect: Connect = useMemo(() => viewOnlyConnect(screenRef, true), []);

  const { status } = useConsoleSession({ vmId, kind: "vnc", mode: "view", enabled: live, retryExpired: true, connect });
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
