/**
 * What the console benchmark's client and TCP source say to each other. The client side is valid RFB
 * (the proxy's RFB filter parses it, as it would a browser's): the source greets with a ProtocolVersion,
 * the client answers with version, security None and ClientInit, then one ClientCutText carrying a
 * command — `stream <bytes> <bytesPerSecond>` (0 bytes = until closed, 0 rate = as fast as possible)
 * or `echo` (every later byte comes straight back; the client sends FramebufferUpdateRequests).
 *
 * Streamed bytes are a fixed pseudo-random block of a prime length repeated, so a lost, duplicated or
 * reordered chunk of any size shows up as a mismatch at its offset.
 */

export const BANNER = Buffer.from("RFB 003.008\n", "latin1");
/** ProtocolVersion, security type None, ClientInit (shared). */
export const CLIENT_HANDSHAKE = Buffer.concat([BANNER, Buffer.from([1, 1])]);
export const ECHO_MESSAGE_BYTES = 10;

const PATTERN_BYTES = 65_521;
/** Longest slice the source writes at once. */
export const STREAM_CHUNK = 256 * 1024;

function makePattern(): Buffer {
  const out = Buffer.alloc(PATTERN_BYTES + STREAM_CHUNK);
  let x = 0x9e3779b9;
  for (let i = 0; i < PATTERN_BYTES; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  for (let i = PATTERN_BYTES; i < out.length; i++) out[i] = out[i % PATTERN_BYTES]!;
  return out;
}

/** The block repeated past its end, so the stream from any offset is one contiguous slice. */
export const PATTERN = makePattern();

/** The `n` streamed bytes that start at stream offset `offset`. */
export function patternSlice(offset: number, n: number): Buffer {
  const start = offset % PATTERN_BYTES;
  return PATTERN.subarray(start, start + n);
}

/** Checks a received stream against the pattern, chunk by chunk; throws at the first wrong byte. */
export class PatternCheck {
  received = 0;

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      const n = Math.min(chunk.length - i, STREAM_CHUNK);
      if (!chunk.subarray(i, i + n).equals(patternSlice(this.received, n))) throw new Error(`stream corrupted near byte ${this.received}`);
      this.received += n;
      i += n;
    }
  }
}

/** ClientCutText carrying a command for the source. */
export function command(text: string): Buffer {
  const body = Buffer.from(text, "latin1");
  const head = Buffer.alloc(8);
  head[0] = 6;
  head.writeInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** FramebufferUpdateRequest whose x/y fields carry a sequence number, so each echo is distinct. */
export function echoMessage(seq: number): Buffer {
  const m = Buffer.alloc(ECHO_MESSAGE_BYTES);
  m[0] = 3;
  m[1] = 1;
  m.writeUInt32BE(seq >>> 0, 2);
  m.writeUInt16BE(64, 6);
  m.writeUInt16BE(64, 8);
  return m;
}
