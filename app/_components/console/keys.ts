/**
 * X11 keysyms and physical key codes for what the console toolbar sends. QEMU accepts noVNC's
 * extended key events (a scancode taken from `code`), which ignore the keysym: a character is typed by
 * pressing the key that produces it on a US layout, Shift included, which is also what the guest's
 * default keymap expects. Characters outside that layout fall back to their keysym alone.
 */

/** Keysyms from X11's keysymdef.h (https://gitlab.freedesktop.org/xorg/proto/xorgproto/-/blob/master/include/X11/keysymdef.h). */
export const XK = {
  BackSpace: 0xff08,
  Tab: 0xff09,
  Return: 0xff0d,
  Escape: 0xff1b,
  Delete: 0xffff,
  Home: 0xff50,
  Left: 0xff51,
  Up: 0xff52,
  Right: 0xff53,
  Down: 0xff54,
  Print: 0xff61,
  F1: 0xffbe,
  Shift_L: 0xffe1,
  Control_L: 0xffe3,
  Alt_L: 0xffe9,
  Super_L: 0xffeb,
} as const;

export interface Key {
  keysym: number;
  code: string;
}

export const KEY = {
  shift: { keysym: XK.Shift_L, code: "ShiftLeft" },
  ctrl: { keysym: XK.Control_L, code: "ControlLeft" },
  alt: { keysym: XK.Alt_L, code: "AltLeft" },
  meta: { keysym: XK.Super_L, code: "MetaLeft" },
  tab: { keysym: XK.Tab, code: "Tab" },
  esc: { keysym: XK.Escape, code: "Escape" },
  enter: { keysym: XK.Return, code: "Enter" },
  backspace: { keysym: XK.BackSpace, code: "Backspace" },
  del: { keysym: XK.Delete, code: "Delete" },
  print: { keysym: XK.Print, code: "PrintScreen" },
  f: (n: number): Key => ({ keysym: XK.F1 + n - 1, code: `F${n}` }),
  letter: (c: string): Key => ({ keysym: c.charCodeAt(0), code: `Key${c.toUpperCase()}` }),
} satisfies Record<string, Key | ((...a: never[]) => Key)>;

/** Combos offered in the toolbar's "Send keys" menu: modifiers are held, the last key is tapped. */
export const KEY_COMBOS: { id: string; label: string; keys: Key[] }[] = [
  { id: "ctrl-alt-f1", label: "Ctrl+Alt+F1", keys: [KEY.ctrl, KEY.alt, KEY.f(1)] },
  { id: "ctrl-alt-f2", label: "Ctrl+Alt+F2", keys: [KEY.ctrl, KEY.alt, KEY.f(2)] },
  { id: "ctrl-alt-f7", label: "Ctrl+Alt+F7", keys: [KEY.ctrl, KEY.alt, KEY.f(7)] },
  { id: "ctrl-alt-backspace", label: "Ctrl+Alt+Backspace", keys: [KEY.ctrl, KEY.alt, KEY.backspace] },
  { id: "alt-tab", label: "Alt+Tab", keys: [KEY.alt, KEY.tab] },
  { id: "alt-f4", label: "Alt+F4", keys: [KEY.alt, KEY.f(4)] },
  { id: "ctrl-c", label: "Ctrl+C", keys: [KEY.ctrl, KEY.letter("c")] },
  { id: "ctrl-d", label: "Ctrl+D", keys: [KEY.ctrl, KEY.letter("d")] },
  { id: "ctrl-z", label: "Ctrl+Z", keys: [KEY.ctrl, KEY.letter("z")] },
  { id: "esc", label: "Esc", keys: [KEY.esc] },
  { id: "tab", label: "Tab", keys: [KEY.tab] },
  { id: "super", label: "Super (Windows key)", keys: [KEY.meta] },
  { id: "print", label: "Print Screen", keys: [KEY.print] },
];

const UNSHIFTED = "`1234567890-=[]\\;',./";
const SHIFTED = "~!@#$%^&*()_+{}|:\"<>?";
const PUNCT_CODES = ["Backquote", "Digit1", "Digit2", "Digit3", "Digit4", "Digit5", "Digit6", "Digit7", "Digit8", "Digit9", "Digit0", "Minus", "Equal", "BracketLeft", "BracketRight", "Backslash", "Semicolon", "Quote", "Comma", "Period", "Slash"];

/** The key (and whether Shift is needed) that types `ch` on a US keyboard, or null if none does. */
export function usKeyFor(ch: string): { code: string; shift: boolean } | null {
  if (ch >= "a" && ch <= "z") return { code: `Key${ch.toUpperCase()}`, shift: false };
  if (ch >= "A" && ch <= "Z") return { code: `Key${ch}`, shift: true };
  if (ch === " ") return { code: "Space", shift: false };
  if (ch === "\n") return { code: "Enter", shift: false };
  if (ch === "\t") return { code: "Tab", shift: false };
  let i = UNSHIFTED.indexOf(ch);
  if (i >= 0) return { code: PUNCT_CODES[i]!, shift: false };
  i = SHIFTED.indexOf(ch);
  if (i >= 0) return { code: PUNCT_CODES[i]!, shift: true };
  return null;
}

/** The keysym for one character: Latin-1 maps to itself, the rest of Unicode to 0x01000000 + code point. */
export function keysymFor(ch: string): number {
  if (ch === "\n") return XK.Return;
  if (ch === "\t") return XK.Tab;
  const cp = ch.codePointAt(0) ?? 0;
  if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff)) return cp;
  return 0x01000000 + cp;
}

export interface KeySink {
  sendKey(keysym: number, code: string | null, down?: boolean): void;
}

/** Holds the combo's keys down in order and releases them in reverse. */
export function sendCombo(sink: KeySink, keys: Key[]): void {
  for (const k of keys) sink.sendKey(k.keysym, k.code, true);
  for (const k of [...keys].reverse()) sink.sendKey(k.keysym, k.code, false);
}

/**
 * Types `text` key by key, pausing between characters so the guest's keyboard buffer keeps up.
 * Stops early when `signal` aborts; reports progress as characters typed.
 */
export async function typeText(sink: KeySink, text: string, opts: { delayMs?: number; signal?: AbortSignal; onProgress?: (done: number) => void } = {}): Promise<number> {
  const chars = Array.from(text.replace(/\r\n?/g, "\n"));
  const delay = opts.delayMs ?? 15;
  let done = 0;
  for (const ch of chars) {
    if (opts.signal?.aborted) break;
    const key = usKeyFor(ch);
    const keysym = keysymFor(ch);
    if (key?.shift) sink.sendKey(XK.Shift_L, "ShiftLeft", true);
    sink.sendKey(keysym, key?.code ?? null, true);
    sink.sendKey(keysym, key?.code ?? null, false);
    if (key?.shift) sink.sendKey(XK.Shift_L, "ShiftLeft", false);
    done++;
    opts.onProgress?.(done);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  }
  return done;
}
