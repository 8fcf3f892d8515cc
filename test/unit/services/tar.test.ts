import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tarHeader, tarSize, tarStream } from "../../../server/services/tar.ts";

function checksumOk(h: Buffer): boolean {
  const stored = parseInt(h.subarray(148, 154).toString("ascii"), 8);
  const copy = Buffer.from(h);
  copy.write("        ", 148, 8, "ascii");
  return copy.reduce((n, b) => n + b, 0) === stored;
}

describe("tar writer", () => {
  it("writes ustar headers with a valid checksum, octal sizes, and base-256 above 8 GiB", () => {
    const h = tarHeader("submissions/alice.qcow2", 1234, new Date(0));
    expect(h.length).toBe(512);
    expect(h.subarray(0, 23).toString()).toBe("submissions/alice.qcow2");
    expect(h.subarray(257, 263).toString("latin1")).toBe("ustar\0");
    expect(parseInt(h.subarray(124, 135).toString("ascii"), 8)).toBe(1234);
    expect(checksumOk(h)).toBe(true);
    const big = tarHeader("big.qcow2", 10 * 1024 ** 3, new Date(0));
    expect(big[124]).toBe(0x80);
    expect(big.readBigUInt64BE(128)).toBe(BigInt(10 * 1024 ** 3));
    expect(checksumOk(big)).toBe(true);
    expect(() => tarHeader("x".repeat(101), 0, new Date(0))).toThrow(/longer than 100/);
  });

  it("streams members with padding and an end of two zero blocks, exactly tarSize long", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmdesk-tar-"));
    try {
      fs.writeFileSync(path.join(dir, "a"), "hello");
      fs.writeFileSync(path.join(dir, "b"), Buffer.alloc(1024, 7));
      const members = [
        { name: "a.qcow2", path: path.join(dir, "a"), size: 5, mtime: new Date(0) },
        { name: "b.qcow2", path: path.join(dir, "b"), size: 1024, mtime: new Date(0) },
      ];
      const chunks: Buffer[] = [];
      for await (const c of tarStream(members)) chunks.push(c as Buffer);
      const out = Buffer.concat(chunks);
      expect(out.length).toBe(tarSize(members));
      expect(out.length).toBe(512 + 512 + 512 + 1024 + 1024);
      expect(out.subarray(512, 517).toString()).toBe("hello");
      expect(out.subarray(517, 1024).every((b) => b === 0)).toBe(true);
      expect(out.subarray(1024, 1031).toString()).toBe("b.qcow2");
      expect(out.subarray(out.length - 1024).every((b) => b === 0)).toBe(true);
      // A file that changed size since it was measured fails the stream rather than corrupt the archive.
      await expect(async () => {
        for await (const _ of tarStream([{ ...members[0]!, size: 3 }])) void _;
      }).rejects.toThrow(/grew/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
