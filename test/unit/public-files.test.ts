/** public/ holds what browsers and crawlers ask for at the site's root, served as files by Next. */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const publicDir = path.resolve(import.meta.dirname, "../../public");

describe("public/", () => {
  it("robots.txt keeps every crawler out of the whole portal", () => {
    const robots = fs.readFileSync(path.join(publicDir, "robots.txt"), "utf8");
    expect(robots).toMatch(/^User-agent: \*$/m);
    expect(robots).toMatch(/^Disallow: \/$/m);
    expect(robots).not.toMatch(/^Allow:/m);
  });

  it("favicon.ico is an icon file (ICO header, PNG images at 16, 32 and 48 px)", () => {
    const ico = fs.readFileSync(path.join(publicDir, "favicon.ico"));
    expect([ico.readUInt16LE(0), ico.readUInt16LE(2)]).toEqual([0, 1]);
    const count = ico.readUInt16LE(4);
    const sizes: number[] = [];
    for (let i = 0; i < count; i++) {
      const entry = 6 + 16 * i;
      sizes.push(ico.readUInt8(entry));
      const offset = ico.readUInt32LE(entry + 12);
      expect(ico.subarray(offset, offset + 8).toString("latin1")).toBe("\x89PNG\r\n\x1a\n");
    }
    expect(sizes).toEqual([16, 32, 48]);
  });
});
