import { describe, expect, it, vi } from "vitest";
import { CUT_TEXT_MAX, FILTER_HELD_MAX, RfbClientFilter, RfbProtocolError, SET_ENCODINGS_MAX, type ConsoleMode } from "../../../server/console/rfb-filter.ts";

const u8 = (...b: number[]) => Buffer.from(b);
const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const s32 = (n: number) => u32(n >>> 0);

const VERSION = Buffer.from("RFB 003.008\n", "latin1");
const HANDSHAKE_NONE = Buffer.concat([VERSION, u8(1), u8(0)]); // security None, ClientInit exclusive
const HANDSHAKE_VNC_AUTH = Buffer.concat([VERSION, u8(2), Buffer.alloc(16, 0xab), u8(0)]);

/** One well-formed instance of every client message, with whether it is input. */
const MESSAGES: Array<{ name: string; bytes: Buffer; input: boolean }> = [
  { name: "SetPixelFormat", bytes: u8(0, 0, 0, 0, 32, 24, 0, 1, ...u16(255), ...u16(255), ...u16(255), 16, 8, 0, 0, 0, 0), input: false },
  { name: "SetEncodings", bytes: u8(2, 0, ...u16(3), ...s32(0), ...s32(7), ...s32(-223)), input: false },
  { name: "FramebufferUpdateRequest", bytes: u8(3, 1, ...u16(0), ...u16(0), ...u16(640), ...u16(480)), input: false },
  { name: "KeyEvent", bytes: u8(4, 1, 0, 0, ...u32(0x61)), input: true },
  { name: "PointerEvent", bytes: u8(5, 1, ...u16(10), ...u16(20)), input: true },
  { name: "ClientCutText", bytes: Buffer.concat([u8(6, 0, 0, 0, ...u32(5)), Buffer.from("hello")]), input: true },
  { name: "ClientCutText (extended, negative length)", bytes: Buffer.concat([u8(6, 0, 0, 0, ...s32(-4)), u8(0, 0, 0, 1)]), input: true },
  { name: "EnableContinuousUpdates", bytes: u8(150, 1, ...u16(0), ...u16(0), ...u16(640), ...u16(480)), input: false },
  { name: "ClientFence", bytes: u8(248, 0, 0, 0, ...u32(0x80000003), 3, 9, 8, 7), input: false },
  { name: "XVP", bytes: u8(250, 0, 1, 2), input: true },
  { name: "SetDesktopSize", bytes: u8(251, 0, ...u16(800), ...u16(600), 1, 0, ...u32(0), ...u16(0), ...u16(0), ...u16(800), ...u16(600), ...u32(0)), input: true },
  { name: "QEMU extended key event", bytes: u8(255, 0, ...u16(1), ...u32(0x61), ...u32(0x1e)), input: true },
  { name: "QEMU audio enable", bytes: u8(255, 1, ...u16(0)), input: false },
  { name: "QEMU audio set format", bytes: u8(255, 1, ...u16(2), 3, 2, ...u32(44100)), input: false },
];

function feed(filter: RfbClientFilter, stream: Buffer, cuts: number[]): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, stream.length]) {
    out.push(filter.push(stream.subarray(at, cut)));
    at = cut;
  }
  return Buffer.concat(out);
}

function expected(mode: ConsoleMode, handshake: Buffer): Buffer {
  const hs = Buffer.from(handshake);
  hs[hs.length - 1] = 1; // shared flag forced
  return Buffer.concat([hs, ...MESSAGES.filter((m) => mode === "control" || !m.input).map((m) => m.bytes)]);
}

describe("RFB client filter", () => {
  for (const [label, handshake] of [["security None", HANDSHAKE_NONE], ["VNC authentication", HANDSHAKE_VNC_AUTH]] as const) {
    it(`follows the handshake with ${label} and forces the shared flag`, () => {
      const f = new RfbClientFilter("control");
      const out = f.push(Buffer.from(handshake));
      expect(out.subarray(0, out.length - 1)).toEqual(handshake.subarray(0, handshake.length - 1));
      expect(out[out.length - 1]).toBe(1);
    });
  }

  it("accepts RFB 3.7 as well", () => {
    const f = new RfbClientFilter("control");
    expect(f.push(Buffer.concat([Buffer.from("RFB 003.007\n"), u8(1, 1)])).length).toBe(14);
  });

  for (const mode of ["control", "view"] as const) {
    it(`${mode}: every message type framed, split at every byte boundary`, () => {
      const stream = Buffer.concat([HANDSHAKE_NONE, ...MESSAGES.map((m) => m.bytes)]);
      const want = expected(mode, HANDSHAKE_NONE);
      for (let cut = 0; cut <= stream.length; cut++) {
        expect(feed(new RfbClientFilter(mode), stream, [cut])).toEqual(want);
      }
      // and one byte at a time
      expect(feed(new RfbClientFilter(mode), stream, Array.from({ length: stream.length }, (_, i) => i))).toEqual(want);
    });
  }

  it("view mode drops exactly the input messages and counts them", () => {
    const f = new RfbClientFilter("view");
    f.push(HANDSHAKE_NONE);
    for (const m of MESSAGES) {
      const out = f.push(m.bytes);
      expect({ name: m.name, len: out.length }).toEqual({ name: m.name, len: m.input ? 0 : m.bytes.length });
    }
    expect(f.stats.dropped).toBe(MESSAGES.filter((m) => m.input).length);
  });

  it("removes the ExtendedMouseButtons pseudo-encoding from SetEncodings (keeps PointerEvent at 6 bytes)", () => {
    const f = new RfbClientFilter("control");
    f.push(HANDSHAKE_NONE);
    const out = f.push(u8(2, 0, ...u16(3), ...s32(0), ...s32(-316), ...s32(-223)));
    expect(out).toEqual(u8(2, 0, ...u16(2), ...s32(0), ...s32(-223)));
  });

  it("fails closed on an unknown message type, QEMU subtype, security type or version", () => {
    const ready = () => {
      const f = new RfbClientFilter("view");
      f.push(HANDSHAKE_NONE);
      return f;
    };
    expect(() => ready().push(u8(7))).toThrow(RfbProtocolError);
    expect(() => ready().push(u8(253, 0, 0, 0))).toThrow(RfbProtocolError);
    expect(() => ready().push(u8(255, 9))).toThrow(RfbProtocolError);
    expect(() => ready().push(u8(255, 1, ...u16(7)))).toThrow(RfbProtocolError);
    expect(() => ready().push(u8(248, 0, 0, 0, 0, 0, 0, 0, 65))).toThrow(RfbProtocolError);
    expect(() => new RfbClientFilter("control").push(Buffer.concat([VERSION, u8(19)]))).toThrow(RfbProtocolError);
    expect(() => new RfbClientFilter("control").push(Buffer.from("RFB 003.003\n"))).toThrow(RfbProtocolError);
    expect(() => new RfbClientFilter("control").push(Buffer.from("GET / HTTP/1.1\r\n"))).toThrow(RfbProtocolError);
  });

  it("an input message hidden after a partial message is still dropped in view mode", () => {
    const f = new RfbClientFilter("view");
    f.push(HANDSHAKE_NONE);
    const fbur = u8(3, 1, ...u16(0), ...u16(0), ...u16(640), ...u16(480));
    const key = u8(4, 1, 0, 0, ...u32(0x61));
    expect(f.push(Buffer.concat([fbur.subarray(0, 4)]))).toHaveLength(0);
    expect(f.push(Buffer.concat([fbur.subarray(4), key, key.subarray(0, 3)]))).toEqual(fbur);
    expect(f.push(key.subarray(3))).toHaveLength(0);
  });

  it("forwards a chunk of whole allowed messages as a view of that chunk (no copy), and splices around dropped input", () => {
    const fbur = u8(3, 1, ...u16(0), ...u16(0), ...u16(640), ...u16(480));
    const key = u8(4, 1, 0, 0, ...u32(0x61));
    const control = new RfbClientFilter("control");
    control.push(HANDSHAKE_NONE);
    const chunk = Buffer.concat([fbur, key, fbur, fbur.subarray(0, 3)]);
    const out = control.push(chunk);
    expect(out).toEqual(chunk.subarray(0, 28));
    expect(out.buffer).toBe(chunk.buffer);
    expect(out.byteOffset).toBe(chunk.byteOffset);

    const view = new RfbClientFilter("view");
    view.push(HANDSHAKE_NONE);
    expect(view.push(Buffer.concat([fbur, key, fbur, key]))).toEqual(Buffer.concat([fbur, fbur]));
  });

  describe("bounded memory (issue 8: the clipboard flood)", () => {
    const fbur = u8(3, 1, ...u16(0), ...u16(0), ...u16(640), ...u16(480));
    const cutHeader = (length: number) => u8(6, 0, 0, 0, ...s32(length));
    const ready = (mode: ConsoleMode) => {
      const f = new RfbClientFilter(mode);
      f.push(HANDSHAKE_NONE);
      return f;
    };

    for (const mode of ["view", "control"] as const) {
      it(`${mode}: a ClientCutText claiming 0x7fffffff bytes is skipped as it streams, holding nothing, and the stream goes on after it`, () => {
        const f = ready(mode);
        expect(f.push(cutHeader(0x7fffffff))).toHaveLength(0);
        const mib = Buffer.alloc(1 << 20, 0x61);
        for (let i = 0; i < 64; i++) {
          expect(f.push(mib)).toHaveLength(0);
          expect(f.heldBytes).toBe(0);
        }
        for (let i = 0; i < 300; i++) expect(f.push(Buffer.alloc(0))).toHaveLength(0);
        // The rest of the claim, then an ordinary message in the same chunk.
        const rest = 0x7fffffff - 64 * (1 << 20);
        const big = Buffer.alloc(rest + fbur.length);
        fbur.copy(big, rest);
        expect(f.push(big)).toEqual(fbur);
        expect(f.heldBytes).toBe(0);
        expect(f.stats.dropped).toBe(1);
      });
    }

    it("control: a ClientCutText of up to 1 MiB is forwarded as it streams (never held); one byte more is skipped whole", () => {
      const f = ready("control");
      const text = Buffer.alloc(CUT_TEXT_MAX, 0x62);
      const msg = Buffer.concat([cutHeader(CUT_TEXT_MAX), text]);
      const out: Buffer[] = [];
      for (let at = 0; at < msg.length; at += 10_000) {
        out.push(f.push(msg.subarray(at, at + 10_000)));
        expect(f.heldBytes).toBeLessThan(8);
      }
      expect(Buffer.concat(out).equals(msg)).toBe(true);
      const tooLong = Buffer.concat([cutHeader(-(CUT_TEXT_MAX + 1)), Buffer.alloc(CUT_TEXT_MAX + 1), fbur]);
      expect(feed(f, tooLong, [3, 9, 500_000])).toEqual(fbur);
      expect(f.stats.dropped).toBe(1);
    });

    it("holds at most FILTER_HELD_MAX bytes whatever arrives, byte by byte", () => {
      const f = ready("control");
      const enc = u8(2, 0, ...u16(SET_ENCODINGS_MAX), ...Array.from({ length: SET_ENCODINGS_MAX }, () => s32(7)).flat());
      const desk = u8(251, 0, ...u16(800), ...u16(600), 255, 0, ...Array.from({ length: 255 * 16 }, () => 0));
      const stream = Buffer.concat([enc, desk, fbur]);
      let max = 0;
      const out: Buffer[] = [];
      for (const b of stream) {
        out.push(f.push(Buffer.from([b])));
        max = Math.max(max, f.heldBytes);
      }
      expect(Buffer.concat(out)).toEqual(stream);
      expect(max).toBeLessThanOrEqual(FILTER_HELD_MAX);
      expect(() => ready("control").push(u8(2, 0, ...u16(SET_ENCODINGS_MAX + 1)))).toThrow(RfbProtocolError);
    });

    it("copies each byte a bounded number of times, however the stream is cut (no O(n²) re-concatenation)", () => {
      const enc = u8(2, 0, ...u16(SET_ENCODINGS_MAX), ...Array.from({ length: SET_ENCODINGS_MAX }, () => s32(7)).flat());
      const f = ready("control");
      const v = ready("view");
      const concat = vi.spyOn(Buffer, "concat");
      const alloc = vi.spyOn(Buffer, "allocUnsafe");
      try {
        // A maximal SetEncodings one byte per push: stored once per size it announces (4 bytes, then whole).
        for (const b of enc) f.push(Buffer.from([b]));
        expect(concat).not.toHaveBeenCalled();
        expect(alloc.mock.calls.map(([n]) => n)).toEqual([4, enc.length]);
        // The flood: a claimed 2 GiB clipboard, 8 MiB of it, then 300 empty frames — no copy, no allocation.
        alloc.mockClear();
        v.push(cutHeader(0x7fffffff));
        for (let i = 0; i < 2048; i++) v.push(Buffer.alloc(4096));
        alloc.mockClear();
        for (let i = 0; i < 300; i++) v.push(Buffer.alloc(0));
        expect(concat).not.toHaveBeenCalled();
        expect(alloc).not.toHaveBeenCalled();
      } finally {
        concat.mockRestore();
        alloc.mockRestore();
      }
    });
  });
});
