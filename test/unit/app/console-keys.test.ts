import { describe, expect, it } from "vitest";
import { KEY_COMBOS, keysymFor, sendCombo, typeText, usKeyFor, XK } from "../../../app/_components/console/keys.ts";

function recorder() {
  const events: [number, string | null, boolean | undefined][] = [];
  return { events, sink: { sendKey: (k: number, c: string | null, d?: boolean) => void events.push([k, c, d]) } };
}

describe("console keys", () => {
  it("maps US-layout characters to their key and Shift", () => {
    expect(usKeyFor("a")).toEqual({ code: "KeyA", shift: false });
    expect(usKeyFor("Q")).toEqual({ code: "KeyQ", shift: true });
    expect(usKeyFor(">")).toEqual({ code: "Period", shift: true });
    expect(usKeyFor("/")).toEqual({ code: "Slash", shift: false });
    expect(usKeyFor("~")).toEqual({ code: "Backquote", shift: true });
    expect(usKeyFor("\n")).toEqual({ code: "Enter", shift: false });
    expect(usKeyFor("é")).toBeNull();
  });

  it("keysyms: Latin-1 is itself, other Unicode is offset, newline is Return", () => {
    expect(keysymFor("A")).toBe(0x41);
    expect(keysymFor("é")).toBe(0xe9);
    expect(keysymFor("€")).toBe(0x010020ac);
    expect(keysymFor("\n")).toBe(XK.Return);
  });

  it("types text with Shift held around shifted characters", async () => {
    const { events, sink } = recorder();
    expect(await typeText(sink, "a>\r\n", { delayMs: 0 })).toBe(3);
    expect(events).toEqual([
      [0x61, "KeyA", true],
      [0x61, "KeyA", false],
      [XK.Shift_L, "ShiftLeft", true],
      [0x3e, "Period", true],
      [0x3e, "Period", false],
      [XK.Shift_L, "ShiftLeft", false],
      [XK.Return, "Enter", true],
      [XK.Return, "Enter", false],
    ]);
  });

  it("stops typing when aborted", async () => {
    const { sink } = recorder();
    const abort = new AbortController();
    const typed = await typeText(sink, "abcdef", { delayMs: 0, signal: abort.signal, onProgress: (n) => n === 2 && abort.abort() });
    expect(typed).toBe(2);
  });

  it("combos press in order and release in reverse", () => {
    const { events, sink } = recorder();
    sendCombo(sink, KEY_COMBOS.find((c) => c.id === "ctrl-alt-f2")!.keys);
    expect(events.map(([, c, d]) => `${c}${d ? "↓" : "↑"}`)).toEqual(["ControlLeft↓", "AltLeft↓", "F2↓", "F2↑", "AltLeft↑", "ControlLeft↑"]);
  });
});
