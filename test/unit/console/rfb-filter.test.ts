import { describe, expect, it } from "vitest";
import { RfbClientFilter, RfbProtocolError, type ConsoleMode } from "../../../server/console/rfb-filter.ts";

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
});
