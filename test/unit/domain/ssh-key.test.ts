import { describe, expect, it } from "vitest";
import { parseSshPublicKey, SSH_KEY_MAX_LINE, sshKeyLine } from "../../../server/domain/ssh-key.ts";
import { KEYS } from "../../support/ssh-keys.ts";

const RSA1024 =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDf2xFg5JrLhhDmbVFFcmBesM7LxlLebwP6XJsA8Fjetsdc+nXdLhebH7P+hmgSoeMeX3nrkAJdGyVY6FKYLuVCfMoNqMlvPXt/xgdnXNZ936dMD6nkmPFSOSDAJzE0S8gpn0+/dKJfevBm9ogVqfTDDBqQDNBM+uyJRMTFQRiKeQ== weak";

/** SSH wire strings: uint32 length, bytes. */
function wire(...parts: Array<string | Uint8Array>): string {
  const bufs = parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p)));
  return Buffer.concat(bufs.flatMap((b) => [Buffer.from([b.length >>> 24, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]), b])).toString("base64");
}
const reason = (line: string) => {
  const r = parseSshPublicKey(line);
  return r.ok ? null : r.reason;
};

describe("parseSshPublicKey", () => {
  it("accepts each supported type, with its size, and keeps the comment", () => {
    for (const [kind, k] of Object.entries(KEYS)) {
      const r = parseSshPublicKey(k.line);
      expect(r.ok, kind).toBe(true);
      if (!r.ok) continue;
      expect(r.key.bits, kind).toBe(k.bits);
      expect(sshKeyLine(r.key), kind).toBe(k.line);
    }
    const r = parseSshPublicKey(`  ${KEYS.ed25519.line.split(" ").slice(0, 2).join(" ")}\n`);
    expect(r).toMatchObject({ ok: true, key: { type: "ssh-ed25519", comment: "" } });
  });

  it("refuses RSA below 2048 bits, other types and options", () => {
    expect(reason(RSA1024)).toMatch(/at least 2048 bits \(this one has 1024\)/);
    expect(reason(`ssh-dss ${wire("ssh-dss", "x")}`)).toMatch(/key type must be one of/);
    expect(reason(`sk-ssh-ed25519@openssh.com ${wire("x")}`)).toMatch(/key type must be one of/);
    expect(reason(`command="rm -rf /" ${KEYS.ed25519.line}`)).toMatch(/key type must be one of|expected/);
    expect(reason("ssh-ed25519")).toMatch(/expected: TYPE BASE64/);
    expect(reason("")).toMatch(/expected/);
  });

  it("refuses a blob whose inner type differs from the declared one", () => {
    const ed = KEYS.ed25519.line.split(" ")[1]!;
    expect(reason(`ssh-rsa ${ed}`)).toMatch(/is a "ssh-ed25519" key, not ssh-rsa/);
    const p256 = KEYS.nistp256.line.split(" ")[1]!;
    expect(reason(`ecdsa-sha2-nistp384 ${p256}`)).toMatch(/not ecdsa-sha2-nistp384/);
    // Declared and inner type agree, but the curve inside says otherwise.
    const point = Buffer.alloc(97, 1);
    point[0] = 4;
    expect(reason(`ecdsa-sha2-nistp256 ${wire("ecdsa-sha2-nistp256", "nistp384", point)}`)).toMatch(/curve "nistp384" does not match/);
  });

  it("refuses malformed key data: not base64, non-canonical, truncated, wrong sizes, trailing bytes", () => {
    expect(reason("ssh-ed25519 AAAA$$$$")).toMatch(/not base64/);
    expect(reason("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPtOmyaKRtaFUJY3gYMLwwfYF5Q0beE+E+dtp53mric")).toMatch(/not base64/);
    // Padding bits set in the last character: decodes to the same bytes, but is not the same text.
    expect(reason(KEYS.nistp384.line.replace("Rg== ", "Rh== "))).toMatch(/canonical/);
    expect(reason(`ssh-ed25519 ${wire("ssh-ed25519", Buffer.alloc(31))}`)).toMatch(/32 bytes/);
    expect(reason(`ssh-ed25519 ${wire("ssh-ed25519", Buffer.alloc(32), "x")}`)).toMatch(/trailing/);
    expect(reason(`ssh-ed25519 ${Buffer.from([0, 0, 0, 99, 1]).toString("base64")}`)).toMatch(/truncated/);
    const compressed = Buffer.alloc(33, 1);
    compressed[0] = 2;
    expect(reason(`ecdsa-sha2-nistp256 ${wire("ecdsa-sha2-nistp256", "nistp256", compressed)}`)).toMatch(/uncompressed point of 65 bytes/);
    expect(reason(`ssh-rsa ${wire("ssh-rsa", Buffer.from([1, 0, 1]))}`)).toMatch(/truncated/);
    expect(reason(`ssh-rsa ${wire("ssh-rsa", Buffer.from([2]), Buffer.concat([Buffer.from([0]), Buffer.alloc(256, 0xff)]))}`)).toMatch(/exponent/);
  });

  it("bounds the line and the comment and refuses line breaks and control characters", () => {
    expect(reason(`${KEYS.ed25519.line} ${"x".repeat(SSH_KEY_MAX_LINE)}`)).toMatch(/at most 8192 characters/);
    expect(reason(`${KEYS.ed25519.line}${"x".repeat(300)}`)).toMatch(/comment may have at most 256/);
    expect(reason(`${KEYS.ed25519.line}\nssh-ed25519 AAAA`)).toMatch(/one line/);
    expect(reason(`${KEYS.ed25519.line}\u202e`)).toMatch(/one line/);
  });
});
