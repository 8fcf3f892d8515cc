"use client";

import { useState, type FormEvent, type ReactNode } from "react";
import { KEY_COMBOS, type Key } from "./keys";

export type ScaleMode = "fit" | "native";

/** Longest text the paste box types into the guest: typing is key by key, about 60 characters a second. */
export const PASTE_MAX_CHARS = 4000;

export function ConsoleToolbar(props: {
  canSend: boolean;
  onCtrlAltDel: () => void;
  onCombo: (keys: Key[]) => void;
  onPaste: (text: string) => void;
  typing: { done: number; total: number } | null;
  onCancelTyping: () => void;
  fullscreen: boolean;
  onFullscreen: () => void;
  scale: ScaleMode;
  onScale: () => void;
  onReconnect: () => void;
  extra?: ReactNode;
}) {
  const [pasteOpen, setPasteOpen] = useState(false);
  const [text, setText] = useState("");
  const { canSend, typing } = props;

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!text || !canSend || typing) return;
    props.onPaste(text);
    setText("");
    setPasteOpen(false);
  }

  return (
    <div className="console-toolbar-wrap">
      <div className="console-toolbar" role="toolbar" aria-label="Console controls">
        <button type="button" className="btn btn-sm" disabled={!canSend} onClick={props.onCtrlAltDel} data-testid="console-ctrl-alt-del" title="Send Ctrl+Alt+Del to the guest">
          Ctrl+Alt+Del
        </button>
        <select
          className="console-keys"
          aria-label="Send a key combination"
          value=""
          disabled={!canSend}
          data-testid="console-keys"
          onChange={(e) => {
            const combo = KEY_COMBOS.find((c) => c.id === e.target.value);
            if (combo) props.onCombo(combo.keys);
          }}
        >
          <option value="">Send keys…</option>
          {KEY_COMBOS.map((c) => (
            <option key={c.id} value={c.id}>
              {c.label}
            </option>
          ))}
        </select>
        <button type="button" className="btn btn-sm" aria-expanded={pasteOpen} disabled={!canSend && !pasteOpen} onClick={() => setPasteOpen((o) => !o)} data-testid="console-paste" title="Type text into the guest, key by key">
          Paste text
        </button>
        <span className="console-toolbar-sep" aria-hidden="true" />
        <button type="button" className="btn btn-sm" aria-pressed={props.scale === "fit"} onClick={props.onScale} data-testid="console-scale" data-scale={props.scale} title={props.scale === "fit" ? "Showing the screen scaled to the window: switch to 1:1" : "Showing the screen 1:1: switch to scale-to-window"}>
          {props.scale === "fit" ? "Scale: fit" : "Scale: 1:1"}
        </button>
        <button type="button" className="btn btn-sm" aria-pressed={props.fullscreen} onClick={props.onFullscreen} data-testid="console-fullscreen">
          {props.fullscreen ? "Exit fullscreen" : "Fullscreen"}
        </button>
        <button type="button" className="btn btn-sm" onClick={props.onReconnect} data-testid="console-reconnect" title="Drop this connection and open a new one">
          Reconnect
        </button>
        {props.extra ? <span className="console-toolbar-extra">{props.extra}</span> : null}
      </div>
      {pasteOpen ? (
        <form className="console-paste" onSubmit={submit} data-testid="console-paste-form">
          <textarea
            value={text}
            onChange={(e) => setText(e.target.value)}
            maxLength={PASTE_MAX_CHARS}
            rows={3}
            placeholder="Text to type into the guest (newlines press Enter)"
            aria-label="Text to type into the guest"
            data-testid="console-paste-text"
            autoFocus
          />
          <div className="console-paste-actions">
            <span className="muted">{text.length > 0 ? `${text.length} / ${PASTE_MAX_CHARS} characters` : "US keyboard layout; other characters are sent as keysyms"}</span>
            <button type="button" className="btn btn-sm" onClick={() => setPasteOpen(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-sm btn-primary" disabled={!text || !canSend || Boolean(typing)} data-testid="console-paste-submit">
              Type it
            </button>
          </div>
        </form>
      ) : null}
      {typing ? (
        <p className="console-typing" data-testid="console-typing">
          Typing {typing.done}/{typing.total}…{" "}
          <button type="button" className="btn-link" onClick={props.onCancelTyping}>
            stop
          </button>
        </p>
      ) : null}
    </div>
  );
}
