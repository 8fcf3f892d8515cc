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

type Phase = "version" | "security" | "vncAuth" | "clientInit" | "messages";

export interface RfbFilterStats {
  /** Complete client messages forwarded and dropped (handshake bytes are not messages). */
  forwarded: number;
  dropped: number;
}

export class RfbClientFilter {
  private phase: Phase = "version";
  private buf: Buffer = Buffer.alloc(0);
  readonly stats: RfbFilterStats = { forwarded: 0, dropped: 0 };

  constructor(private readonly mode: ConsoleMode) {}

  /**
   * Feeds the next chunk from the client; returns the bytes to send to the server (possibly empty).
   * Every input event passes through here, so the usual case allocates nothing but views: forwarded
   * messages are slices of the chunk, and consecutive slices of the same memory merge into one view
   * instead of being copied by Buffer.concat.
   */
  push(chunk: Buffer): Buffer {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let out: Buffer | null = null;
    let parts: Buffer[] | null = null;
    for (;;) {
      const step = this.next();
      if (step === null) break;
      if (step.length === 0) continue;
      if (out === null) out = step;
      else if (parts === null && step.buffer === out.buffer && step.byteOffset === out.byteOffset + out.length) out = Buffer.from(out.buffer, out.byteOffset, out.length + step.length);
      else (parts ??= [out]).push(step);
    }
    return parts ? Buffer.concat(parts) : (out ?? EMPTY);
  }

  /** One complete unit from the buffer (bytes to forward, empty when dropped), or null when more input is needed. */
  private next(): Buffer | null {
    const b = this.buf;
    switch (this.phase) {
      case "version": {
        if (b.length < 12) return null;
        const version = b.subarray(0, 12).toString("latin1");
        if (version !== "RFB 003.008\n" && version !== "RFB 003.007\n") throw new RfbProtocolError(`unsupported protocol version ${JSON.stringify(version)}`);
        this.phase = "security";
        return this.take(12);
      }
      case "security": {
        if (b.length < 1) return null;
        const type = b[0]!;
        if (type === SECURITY_NONE) this.phase = "clientInit";
        else if (type === SECURITY_VNC_AUTH) this.phase = "vncAuth";
        else throw new RfbProtocolError(`unsupported security type ${type}`);
        return this.take(1);
      }
      case "vncAuth": {
        if (b.length < 16) return null;
        this.phase = "clientInit";
        return this.take(16);
      }
      case "clientInit": {
        if (b.length < 1) return null;
        this.take(1);
        this.phase = "messages";
        return Buffer.from([1]);
      }
      case "messages":
        return this.message();
    }
  }

  private message(): Buffer | null {
    const b = this.buf;
    if (b.length < 1) return null;
    const type = b[0]!;
    let length: number | null;
    let input = false;
    switch (type) {
      case RFB_MSG.SetPixelFormat:
        length = 20;
        break;
      case RFB_MSG.SetEncodings:
        length = b.length >= 4 ? 4 + 4 * b.readUInt16BE(2) : null;
        if (length !== null && b.length >= length) return this.forward(this.setEncodings(this.take(length)));
        break;
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
      case RFB_MSG.ClientCutText: {
        // A negative length (two's complement) is the Extended Clipboard form; the payload is |length| bytes.
        length = b.length >= 8 ? 8 + Math.abs(b.readInt32BE(4)) : null;
        input = true;
        break;
      }
      case RFB_MSG.EnableContinuousUpdates:
        length = 10;
        break;
      case RFB_MSG.ClientFence:
        length = b.length >= 9 ? 9 + b[8]! : null;
        if (b.length >= 9 && b[8]! > 64) throw new RfbProtocolError("ClientFence payload longer than 64 bytes");
        break;
      case RFB_MSG.Xvp:
        length = 4;
        input = true;
        break;
      case RFB_MSG.SetDesktopSize:
        length = b.length >= 7 ? 8 + 16 * b[6]! : null;
        input = true;
        break;
      case RFB_MSG.Qemu: {
        if (b.length < 2) return null;
        const subtype = b[1]!;
        if (subtype === QEMU_EXTENDED_KEY_EVENT) {
          length = 12;
          input = true;
        } else if (subtype === QEMU_AUDIO) {
          if (b.length < 4) return null;
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
    if (length === null || b.length < length) return null;
    const msg = this.take(length);
    if (input && this.mode === "view") {
      this.stats.dropped++;
      return EMPTY;
    }
    return this.forward(msg);
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

  private take(n: number): Buffer {
    const head = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return head;
  }
}
