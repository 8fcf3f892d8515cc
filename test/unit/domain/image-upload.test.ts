import { describe, expect, it } from "vitest";
import { judgeImageInfo, parseContentRange } from "../../../server/domain/image-upload.ts";
import { describeImagesExcess, imagesQuotaExcess, imagesRoomBytes } from "../../../server/domain/quota.ts";

const GIB = 1024 ** 3;
const limits = { maxVirtualBytes: 64 * GIB };
const qcow2 = (extra: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
  "virtual-size": 64 * 1024 ** 2,
  filename: "/x",
  format: "qcow2",
  "format-specific": { type: "qcow2", data: { compat: "1.1", corrupt: false, ...data } },
  ...extra,
});

describe("judgeImageInfo (qemu-img info --output=json, as qemu-img 7.2 prints it)", () => {
  it("accepts a self-contained qcow2 and sizes its minimum disk", () => {
    expect(judgeImageInfo(qcow2(), "qcow2", false, limits)).toEqual({ ok: true, virtualBytes: 64 * 1024 ** 2, minDiskGiB: 1 });
    expect(judgeImageInfo(qcow2({ "virtual-size": 10 * GIB + 1 }), "qcow2", false, limits)).toMatchObject({ ok: true, minDiskGiB: 11 });
  });

  it("refuses a qcow2 naming a backing file, by any of qemu-img's keys", () => {
    const shadow = qcow2({ "backing-filename-format": "raw", "full-backing-filename": "/etc/shadow", "backing-filename": "/etc/shadow" });
    expect(judgeImageInfo(shadow, "qcow2", false, limits)).toEqual({ ok: false, reason: expect.stringMatching(/backing file \(\/etc\/shadow\)/) });
    expect(judgeImageInfo(qcow2({ "full-backing-filename": "/etc/shadow" }), "qcow2", false, limits).ok).toBe(false);
    expect(judgeImageInfo(qcow2({ "backing-filename": "json:{}" }), "qcow2", false, limits).ok).toBe(false);
  });

  it("refuses a qcow2 with an external data file", () => {
    expect(judgeImageInfo(qcow2({}, { "data-file": "/dev/sda", "data-file-raw": false }), "qcow2", false, limits)).toEqual({ ok: false, reason: expect.stringMatching(/external data file \(\/dev\/sda\)/) });
  });

  it("refuses a format other than the declared one", () => {
    expect(judgeImageInfo(qcow2(), "raw", false, limits)).toEqual({ ok: false, reason: "the file is qcow2, not raw" });
    expect(judgeImageInfo(qcow2(), "iso", true, limits)).toEqual({ ok: false, reason: "the file is qcow2, not iso" });
    expect(judgeImageInfo({ format: "raw", "virtual-size": 1024 }, "qcow2", false, limits)).toEqual({ ok: false, reason: "the file is raw, not qcow2" });
    expect(judgeImageInfo({ format: "vmdk", "virtual-size": 1024 }, "raw", false, limits).ok).toBe(false);
  });

  it("takes an ISO (raw to qemu-img) only with the ISO 9660 signature", () => {
    const iso = { "virtual-size": 16 * 1024 ** 2, format: "raw", "actual-size": 16 * 1024 ** 2 };
    expect(judgeImageInfo(iso, "iso", true, limits)).toEqual({ ok: true, virtualBytes: 16 * 1024 ** 2, minDiskGiB: 1 });
    expect(judgeImageInfo(iso, "iso", false, limits)).toEqual({ ok: false, reason: expect.stringMatching(/CD001/) });
    expect(judgeImageInfo(iso, "raw", false, limits)).toMatchObject({ ok: true });
  });

  it("bounds the virtual size and refuses what qemu-img could not describe", () => {
    expect(judgeImageInfo(qcow2({ "virtual-size": 64 * GIB + 1 }), "qcow2", false, limits)).toEqual({ ok: false, reason: expect.stringMatching(/above the limit of 64 GiB/) });
    expect(judgeImageInfo(qcow2({ "virtual-size": 64 * GIB }), "qcow2", false, limits).ok).toBe(true);
    expect(judgeImageInfo({ format: "raw", "virtual-size": 0 }, "raw", false, limits).ok).toBe(false);
    for (const bad of [null, "text", {}, { format: "qcow2" }, { "virtual-size": 5 }]) expect(judgeImageInfo(bad, "qcow2", false, limits).ok).toBe(false);
  });
});

describe("parseContentRange", () => {
  it("reads bytes START-END/TOTAL", () => {
    expect(parseContentRange("bytes 0-99/1000")).toEqual({ ok: true, range: { start: 0, end: 99, total: 1000 } });
    expect(parseContentRange("bytes 900-999/1000")).toEqual({ ok: true, range: { start: 900, end: 999, total: 1000 } });
    expect(parseContentRange(" bytes 0-0/1 ")).toMatchObject({ ok: true });
  });

  it("refuses anything else", () => {
    for (const h of [undefined, "", "bytes */1000", "bytes 0-99/*", "items 0-99/1000", "bytes 10-9/1000", "bytes 0-1000/1000", "bytes -1-5/10", "bytes 0-99/1000, 100-199/1000", "bytes 0x0-5/10", "bytes 0-99999999999999999/99999999999999999"]) {
      expect(parseContentRange(h).ok, String(h)).toBe(false);
    }
  });
});

describe("images quota arithmetic", () => {
  it("fits up to the limit, bytes against GiB", () => {
    expect(imagesRoomBytes(2, GIB)).toBe(GIB);
    expect(imagesRoomBytes(1, 3 * GIB)).toBe(0);
    expect(imagesQuotaExcess(2, GIB, GIB)).toBeNull();
    expect(imagesQuotaExcess(2, GIB, GIB + 1)).toEqual({ limitGiB: 2, usedBytes: GIB, requestedBytes: GIB + 1 });
    expect(imagesQuotaExcess(0, 0, 1)).not.toBeNull();
  });

  it("names limit, usage, request and what is left", () => {
    expect(describeImagesExcess({ limitGiB: 1, usedBytes: 512 * 1024 ** 2, requestedBytes: 600 * 1024 ** 2 })).toBe("images quota exceeded: limit 1 GiB, in use 512 MiB, requested 600 MiB (512 MiB left)");
  });
});
