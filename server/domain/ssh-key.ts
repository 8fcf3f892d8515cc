/**
 * SSH public keys as users paste them (one authorized_keys line, without options). Pure: the line is
 * parsed down to the key blob's wire format (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709) so a key whose
 * declared type differs from the type inside its blob, a truncated blob or a short RSA modulus is
 * refused here, before anything stores or hands it to a guest.
 */

/** The key types we accept; DSA and the FIDO (sk-) types are not. */
export const SSH_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** Longest line accepted: an RSA 16384-bit key is ≈ 2 800 characters; the rest is comment room. */
export const SSH_KEY_MAX_LINE = 8192;
export const SSH_KEY_MAX_COMMENT = 256;
export const SSH_RSA_MIN_BITS = 2048;
export const SSH_RSA_MAX_BITS = 16384;
/** Keys one user may keep. */
export const SSH_KEYS_PER_USER = 50;

export interface ParsedSshKey {
  type: SshKeyType;
  /** The blob, base64 as in authorized_keys (canonical: it re-encodes to itself). */
  blob: string;
  comment: string;
  bits: number;
}

export type SshKeyParse = { ok: true; key: ParsedSshKey } | { ok: false; reason: string };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** Uncompressed point length (0x04 ‖ X ‖ Y) and bit size per curve. */
const CURVES: Record<string, { point: number; bits: number }> = { nistp256: { point: 65, bits: 256 }, nistp384: { point: 97, bits: 384 }, nistp521: { point: 133, bits: 521 } };

/** Reads SSH wire `string`s (uint32 big-endian length, then bytes) off a buffer. */
class WireReader {
  private offset = 0;
  constructor(private readonly buf: Uint8Array) {}
  string(): Uint8Array | null {
    if (this.offset + 4 > this.buf.length) return null;
    const b = this.buf;
    const o = this.offset;
    const len = ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;
    if (this.offset + 4 + len > this.buf.length) return null;
    const out = this.buf.subarray(this.offset + 4, this.offset + 4 + len);
    this.offset += 4 + len;
    return out;
  }
  get done(): boolean {
    return this.offset === this.buf.length;
  }
}

const ascii = (b: Uint8Array) => String.fromCharCode(...b);

/** Bit length of an SSH mpint (big-endian, two's complement: a leading 0x00 only keeps it positive). */
function mpintBits(b: Uint8Array): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

function checkBlob(type: SshKeyType, blob: Uint8Array): { bits: number } | string {
  const r = new WireReader(blob);
  const inner = r.string();
  if (!inner) return "the key data is truncated";
  if (ascii(inner) !== type) return `the key data is a ${JSON.stringify(ascii(inner).slice(0, 40))} key, not ${type}`;
  let bits: number;
  if (type === "ssh-ed25519") {
    const pk = r.string();
    if (!pk || pk.length !== 32) return "an ed25519 key must hold 32 bytes";
    bits = 256;
  } else if (type === "ssh-rsa") {
    const e = r.string();
    const n = r.string();
    if (!e || !n) return "the key data is truncated";
    if (mpintBits(e) < 2 || (e[e.length - 1]! & 1) === 0) return "the RSA exponent is invalid";
    if ((n[0]! & 0x80) !== 0) return "the RSA modulus is negative";
    bits = mpintBits(n);
    if (bits < SSH_RSA_MIN_BITS) return `RSA keys must have at least ${SSH_RSA_MIN_BITS} bits (this one has ${bits})`;
    if (bits > SSH_RSA_MAX_BITS) return `RSA keys may have at most ${SSH_RSA_MAX_BITS} bits`;
  } else {
    const curveName = type.slice("ecdsa-sha2-".length);
    const curve = r.string();
    const q = r.string();
    if (!curve || !q) return "the key data is truncated";
    if (ascii(curve) !== curveName) return `the key's curve ${JSON.stringify(ascii(curve).slice(0, 20))} does not match ${type}`;
    const want = CURVES[curveName]!;
    if (q.length !== want.point || q[0] !== 0x04) return `an ${curveName} key must be an uncompressed point of ${want.point} bytes`;
    bits = want.bits;
  }
  if (!r.done) return "the key data has trailing bytes";
  return { bits };
}

/**
 * Parses one public key line `TYPE BASE64 [COMMENT]`. Refused: other types, authorized_keys options,
 * line breaks or control characters, non-canonical base64, a blob whose inner type differs from the
 * declared one, malformed or trailing key data, RSA below 2048 bits.
 */
export function parseSshPublicKey(line: string): SshKeyParse {
  const fail = (reason: string): SshKeyParse => ({ ok: false, reason });
  if (line.length > SSH_KEY_MAX_LINE) return fail(`a key line may have at most ${SSH_KEY_MAX_LINE} characters`);
  const text = line.trim();
  if (UNPRINTABLE.test(text)) return fail("a key must be one line without control characters");
  const match = /^(\S+) +(\S+)(?: +(.*))?$/.exec(text);
  if (!match) return fail("expected: TYPE BASE64 [COMMENT], as in a .pub file");
  const [, type, b64, comment = ""] = match;
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type!)) return fail(`key type must be one of ${SSH_KEY_TYPES.join(", ")}`);
  if (!BASE64.test(b64!) || b64!.length % 4 !== 0) return fail("the key data is not base64");
  const blob = Buffer.from(b64!, "base64");
  if (blob.toString("base64") !== b64) return fail("the key data is not canonical base64");
  const checked = checkBlob(type as SshKeyType, blob);
  if (typeof checked === "string") return fail(checked);
  if (comment.length > SSH_KEY_MAX_COMMENT) return fail(`the comment may have at most ${SSH_KEY_MAX_COMMENT} characters`);
  return { ok: true, key: { type: type as SshKeyType, blob: b64!, comment: comment.trim(), bits: checked.bits } };
}

/** The authorized_keys line for a stored key. */
export function sshKeyLine(key: { type: string; blob: string; comment: string }): string {
  return key.comment ? `${key.type} ${key.blob} ${key.comment}` : `${key.type} ${key.blob}`;
}
