"use client";

import { useEffect, useRef, useState } from "react";
import { FormError } from "../../_components/ui";

const TAIL_BYTES = 64 * 1024;
/** Text shown at most; older lines scroll out (the download has the whole kept log). */
const SHOWN_MAX = 256 * 1024;

/**
 * The VM's serial log as the portal keeps it: the tail, then followed live over the REST endpoint's
 * event stream (same session cookie), with a download of the whole kept log.
 */
export function SerialLog({ vmId }: { vmId: string }) {
  const [text, setText] = useState("");
  const [follow, setFollow] = useState(true);
  const [error, setError] = useState<Error | null>(null);
  const pre = useRef<HTMLPreElement>(null);
  const url = `/api/v1/vms/${vmId}/serial-log`;

  useEffect(() => {
    let source: EventSource | null = null;
    let cancelled = false;
    void (async () => {
      const res = await fetch(`${url}?tail=${TAIL_BYTES}`);
      if (!res.ok) throw new Error(((await res.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${res.status}`);
      const first = (await res.json()) as { text: string; end: number };
      if (cancelled) return;
      setText(first.text);
      if (!follow) return;
      source = new EventSource(`${url}?follow=1&after=${first.end}`);
      source.onmessage = (e) => {
        const next = JSON.parse(e.data as string) as { text: string };
        setText((t) => (t + next.text).slice(-SHOWN_MAX));
      };
    })().catch((err: unknown) => setError(err instanceof Error ? err : new Error(String(err))));
    return () => {
      cancelled = true;
      source?.close();
    };
  }, [url, follow]);

  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);

  return (
    <div data-testid="serial-log">
      <div className="inline-form">
        <label className="checkbox">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} data-testid="serial-log-follow" /> follow
        </label>
        <a href={`${url}?download=1`} data-testid="serial-log-download">
          Download
        </a>
      </div>
      <pre ref={pre} className="mono" style={{ maxHeight: "24em", overflow: "auto", whiteSpace: "pre-wrap" }} data-testid="serial-log-text">
        {text || "(no output kept yet)"}
      </pre>
      <FormError error={error} />
    </div>
  );
}
