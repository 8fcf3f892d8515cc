/**
 * A pure parser of the client → server half of an RFB 3.7/3.8 stream (RFC 6143 plus the registered
 * extensions noVNC and QEMU use), so that the proxy — not the browser — decides what reaches the VM.
 *
 * It follows the handshake (ProtocolVersion, security type, VNC-auth response, ClientInit with the
 * shared flag forced to 1 so a console never kicks other viewers off), then frames every client
 * message across arbitrary chunk boundaries. In `view` mode input messages (KeyEvent, PointerEvent,
 * ClientCutText, QEMU extended key events, SetDesktopSize, XVP power operations) are dropped. Anything
 * it cannot frame with certainty (an unknown message type or subtype, another security type, another
 * protocol version) throws RfbProtocolError: failing closed is the only safe answer, because a framing
 * mistake would let input bytes through as part of a "harmless" message.
 *
 * SetEncodings is rewritten to remove the ExtendedMouseButtons pseudo-encoding (-316): once a server
 * accepts it, PointerEvent becomes 6 or 7 bytes depending on the server's answer, which a client-side
 * parser cannot see. Without it every PointerEvent is 6 bytes.
 *
 * Memory is bounded whatever the client claims: the only message whose length the client chooses
 * freely, ClientCutText, is never held. Its payload streams through (control mode, up to
 * CUT_TEXT_MAX, QEMU's own limit) or is skipped by counting bytes down (view mode, or longer: QEMU
 * would refuse it anyway). Every other message is at most FILTER_HELD_MAX bytes (SetEncodings is
 * capped at SET_ENCODINGS_MAX entries), and a partial one is topped up with exactly the bytes it still
 * needs, so each byte is copied a bounded number of times however the stream is cut.
 */

export type ConsoleMode = "control" | "view";

export class RfbProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RfbProtocolError";
  }
}

/** Client message types (RFC 6143 §7.5 and the IANA RFB registry). */
export const RFB_MSG = {
  SetPixelFormat: 0,
  SetEncodings: 2,
  FramebufferUpdateRequest: 3,
  KeyEvent: 4,
  PointerEvent: 5,
  ClientCutText: 6,
  EnableContinuousUpdates: 150,
  ClientFence: 248,
  Xvp: 250,
  SetDesktopSize: 251,
  Qemu: 255,
} as const;

/** QEMU client message subtypes (rfbproto "QEMU Client Message"). */
const QEMU_EXTENDED_KEY_EVENT = 0;
const QEMU_AUDIO = 1;
const ENCODING_EXTENDED_MOUSE_BUTTONS = -316;

const SECURITY_NONE = 1;
const SECURITY_VNC_AUTH = 2;

/** Shared zero-length result (nothing to forward); a zero-length view cannot be written through. */
const EMPTY = Buffer.alloc(0);

/** Longest ClientCutText forwarded (QEMU drops the client on anything longer). */
export const CUT_TEXT_MAX = 1 << 20;
/** Most encodings a SetEncodings may list (noVNC sends ~20; RFB allows 65 535, which would be held). */
export const SET_ENCODINGS_MAX = 1024;
/** Most bytes the filter ever holds: the longest message it frames whole (SetEncodings at its cap). */
export const FILTER_HELD_MAX = 4 + 4 * SET_ENCODINGS_MAX;
const CUT_TEXT_HEADER = 8;

type Phase = "version" | "security" | "vncAuth" | "clientInit" | "messages";

export interface RfbFilterStats {
  /** Complete client messages forwarded and dropped (handshake bytes are not messages). */
  forwarded: number;
  dropped: number;
}

/** One step of the parser: a whole unit consumed (`out` to forward, possibly empty), or how many bytes it needs in all. */
type Step = { take: number; out: Buffer } | { need: number };

export class RfbClientFilter {
  private phase: Phase = "version";
  /** A partial unit: storage of `need` bytes (at most FILTER_HELD_MAX), the first `heldLen` filled. */
  private held: Buffer = EMPTY;
  private heldLen = 0;
  private need = 0;
  /** Bytes of a ClientCutText payload still to come, and whether they are forwarded or skipped. */
  private streamLeft = 0;
  private streamForward = false;
  /** The output of the push in progress: one view, or the parts to concatenate. */
  private out: Buffer | null = null;
  private outParts: Buffer[] | null = null;
  readonly stats: RfbFilterStats = { forwarded: 0, dropped: 0 };

  constructor(private readonly mode: ConsoleMode) {}

  /** Bytes held between pushes (a partial message; never a ClientCutText payload). */
  get heldBytes(): number {
    return this.heldLen;
  }

  /**
   * Feeds the next chunk from the client; returns the bytes to send to the server (possibly empty).
   * Every input event passes through here, so the usual case allocates nothing but views: forwarded
   * messages are slices of the chunk, and consecutive slices of the same memory merge into one view
   * instead of being copied by Buffer.concat.
   */
  push(chunk: Buffer): Buffer {
    this.out = null;
    this.outParts = null;
    let at = 0;
    while (at < chunk.length) {
      if (this.streamLeft > 0) {
        const n = Math.min(this.streamLeft, chunk.length - at);
        if (this.streamForward) this.emit(chunk.subarray(at, at + n));
        this.streamLeft -= n;
        at += n;
        continue;
      }
      if (this.heldLen > 0) {
        // Top the partial unit up with exactly what it still needs, then parse it whole (units take
        // exactly what they asked for, so nothing is left over).
        const n = Math.min(this.need - this.heldLen, chunk.length - at);
        chunk.copy(this.held, this.heldLen, at, at + n);
        this.heldLen += n;
        at += n;
        if (this.heldLen < this.need) break;
        const unit = this.held.subarray(0, this.heldLen);
        const step = this.next(unit);
        if ("need" in step) this.hold(unit, step.need);
        else {
          this.held = EMPTY;
          this.heldLen = 0;
          this.emit(step.out);
        }
        continue;
      }
      const rest = at === 0 ? chunk : chunk.subarray(at);
      const step = this.next(rest);
      if ("need" in step) {
        this.hold(rest, step.need);
        break;
      }
      this.emit(step.out);
      at += step.take;
    }
    const out = this.outParts ? Buffer.concat(this.outParts) : (this.out ?? EMPTY);
    this.out = null;
    this.outParts = null;
    return out;
  }

  private emit(step: Buffer): void {
    if (step.length === 0) return;
    const out = this.out;
    if (out === null) this.out = step;
    else if (this.outParts === null && step.buffer === out.buffer && step.byteOffset === out.byteOffset + out.length) this.out = Buffer.from(out.buffer, out.byteOffset, out.length + step.length);
    else (this.outParts ??= [out]).push(step);
  }

  /**
   * Copies a partial unit into storage of exactly `need` bytes (never a view of the caller's chunk),
   * topped up in place by later pushes: a unit is copied at most once per size it announces.
   */
  private hold(partial: Buffer, need: number): void {
    if (need > FILTER_HELD_MAX) throw new RfbProtocolError(`client message of ${need} bytes exceeds the filter's limit`);
    const storage = Buffer.allocUnsafe(need);
    partial.copy(storage);
    this.held = storage;
    this.heldLen = partial.length;
    this.need = need;
  }

  /** One complete unit at the start of `b`, or how many bytes the unit needs. */
  private next(b: Buffer): Step {
    switch (this.phase) {
      case "version": {
        if (b.length < 12) return { need: 12 };
        const version = b.subarray(0, 12).toString("latin1");
        if (version !== "RFB 003.008\n" && version !== "RFB 003.007\n") throw new RfbProtocolError(`unsupported protocol version ${JSON.stringify(version)}`);
        this.phase = "security";
        return { take: 12, out: b.subarray(0, 12) };
      }
      case "security": {
        const type = b[0]!;
        if (type === SECURITY_NONE) this.phase = "clientInit";
        else if (type === SECURITY_VNC_AUTH) this.phase = "vncAuth";
        else throw new RfbProtocolError(`unsupported security type ${type}`);
        return { take: 1, out: b.subarray(0, 1) };
      }
      case "vncAuth": {
        if (b.length < 16) return { need: 16 };
        this.phase = "clientInit";
        return { take: 16, out: b.subarray(0, 16) };
      }
      case "clientInit": {
        this.phase = "messages";
        return { take: 1, out: Buffer.from([1]) };
      }
      case "messages":
        return this.message(b);
    }
  }

  private message(b: Buffer): Step {
    const type = b[0]!;
    let length: number;
    let input = false;
    switch (type) {
      case RFB_MSG.SetPixelFormat:
        length = 20;
        break;
      case RFB_MSG.SetEncodings: {
        if (b.length < 4) return { need: 4 };
        const count = b.readUInt16BE(2);
        if (count > SET_ENCODINGS_MAX) throw new RfbProtocolError(`SetEncodings lists ${count} encodings (at most ${SET_ENCODINGS_MAX})`);
        length = 4 + 4 * count;
        if (b.length < length) return { need: length };
        return { take: length, out: this.forward(this.setEncodings(b.subarray(0, length))) };
      }
      case RFB_MSG.FramebufferUpdateRequest:
        length = 10;
        break;
      case RFB_MSG.KeyEvent:
        length = 8;
        input = true;
        break;
      case RFB_MSG.PointerEvent:
        length = 6;
        input = true;
        break;
      case RFB_MSG.ClientCutText:
        return this.cutText(b);
      case RFB_MSG.EnableContinuousUpdates:
        length = 10;
        break;
      case RFB_MSG.ClientFence:
        if (b.length < 9) return { need: 9 };
        if (b[8]! > 64) throw new RfbProtocolError("ClientFence payload longer than 64 bytes");
        length = 9 + b[8]!;
        break;
      case RFB_MSG.Xvp:
        length = 4;
        input = true;
        break;
      case RFB_MSG.SetDesktopSize:
        if (b.length < 7) return { need: 7 };
        length = 8 + 16 * b[6]!;
        input = true;
        break;
      case RFB_MSG.Qemu: {
        if (b.length < 2) return { need: 2 };
        const subtype = b[1]!;
        if (subtype === QEMU_EXTENDED_KEY_EVENT) {
          length = 12;
          input = true;
        } else if (subtype === QEMU_AUDIO) {
          if (b.length < 4) return { need: 4 };
          const op = b.readUInt16BE(2);
          if (op === 0 || op === 1) length = 4;
          else if (op === 2) length = 10;
          else throw new RfbProtocolError(`unknown QEMU audio operation ${op}`);
        } else {
          throw new RfbProtocolError(`unknown QEMU client message subtype ${subtype}`);
        }
        break;
      }
      default:
        throw new RfbProtocolError(`unknown client message type ${type}`);
    }
    if (b.length < length) return { need: length };
    if (input && this.mode === "view") {
      this.stats.dropped++;
      return { take: length, out: EMPTY };
    }
    return { take: length, out: this.forward(b.subarray(0, length)) };
  }

  /**
   * ClientCutText: only its 8-byte header is framed here; the payload streams (see the module
   * comment). A negative length (two's complement) is the Extended Clipboard form of |length| bytes.
   */
  private cutText(b: Buffer): Step {
    if (b.length < CUT_TEXT_HEADER) return { need: CUT_TEXT_HEADER };
    const length = Math.abs(b.readInt32BE(4));
    this.streamLeft = length;
    this.streamForward = this.mode === "control" && length <= CUT_TEXT_MAX;
    if (!this.streamForward) {
      this.stats.dropped++;
      return { take: CUT_TEXT_HEADER, out: EMPTY };
    }
    return { take: CUT_TEXT_HEADER, out: this.forward(b.subarray(0, CUT_TEXT_HEADER)) };
  }

  private forward(msg: Buffer): Buffer {
    this.stats.forwarded++;
    return msg;
  }

  /** SetEncodings without ExtendedMouseButtons (see the module comment). */
  private setEncodings(msg: Buffer): Buffer {
    const count = msg.readUInt16BE(2);
    const kept: number[] = [];
    for (let i = 0; i < count; i++) {
      const enc = msg.readInt32BE(4 + 4 * i);
      if (enc !== ENCODING_EXTENDED_MOUSE_BUTTONS) kept.push(enc);
    }
    if (kept.length === count) return msg;
    const out = Buffer.alloc(4 + 4 * kept.length);
    out[0] = RFB_MSG.SetEncodings;
    out.writeUInt16BE(kept.length, 2);
    kept.forEach((enc, i) => out.writeInt32BE(enc, 4 + 4 * i));
    return out;
  }
}
