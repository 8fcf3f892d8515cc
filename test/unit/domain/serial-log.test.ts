import { describe, expect, it } from "vitest";
import { appendSerial, keptSerial, readWindow, sliceSerial, type SerialSegments } from "../../../server/domain/serial-log.ts";

const empty: SerialSegments = { current: Buffer.alloc(0), previous: Buffer.alloc(0), end: 0 };
const b = (s: string) => Buffer.from(s);

describe("serial log segments", () => {
  it("appends within the cap, rotates past it, and never keeps more than two caps", () => {
    let log = appendSerial(empty, b("abcd"), 8);
    log = appendSerial(log, b("efgh"), 8);
    expect(log.current.toString()).toBe("abcdefgh");
    log = appendSerial(log, b("ij"), 8);
    expect(log.previous.toString()).toBe("abcdefgh");
    expect(log.current.toString()).toBe("ij");
    log = appendSerial(log, b("klmnopqr"), 8);
    expect(log.previous.toString()).toBe("ij");
    expect(log.current.toString()).toBe("klmnopqr");
    expect(log.end).toBe(18);
    for (let i = 0; i < 100; i++) log = appendSerial(log, b("x".repeat(5)), 8);
    expect(log.current.length + log.previous.length).toBeLessThanOrEqual(16);
  });

  it("keeps only the newest 2 × cap bytes of a chunk larger than the cap", () => {
    const log = appendSerial(appendSerial(empty, b("old"), 4), b("0123456789"), 4);
    expect(log.current.toString()).toBe("6789");
    expect(log.previous.toString()).toBe("2345");
    expect(log.end).toBe(13);
    expect(keptSerial(log)).toEqual({ bytes: b("23456789"), start: 5 });
  });

  it("serves tails by bytes and by lines, and what came after a position", () => {
    const log = appendSerial(empty, b("one\ntwo\nthree\nfour\n"), 64);
    expect(sliceSerial(log, { tailBytes: 5 }).bytes.toString()).toBe("four\n");
    expect(sliceSerial(log, { tailBytes: 1000 }).bytes.toString()).toBe("one\ntwo\nthree\nfour\n");
    expect(sliceSerial(log, { tailLines: 2 }).bytes.toString()).toBe("three\nfour\n");
    expect(sliceSerial(log, { tailLines: 10 }).bytes.toString()).toBe("one\ntwo\nthree\nfour\n");
    expect(sliceSerial(appendSerial(log, b("fi"), 64), { tailLines: 1 }).bytes.toString()).toBe("fi");
    expect(sliceSerial(log, { tailLines: 0 }).bytes.length).toBe(0);
    const after = sliceSerial(log, { after: 8 });
    expect(after).toMatchObject({ start: 8, end: 19, truncated: false });
    expect(after.bytes.toString()).toBe("three\nfour\n");
    expect(sliceSerial(log, { after: 19 }).bytes.length).toBe(0);
    expect(sliceSerial(log, { after: 500 }).bytes.length).toBe(0);
  });

  it("says when a follower's position was rotated away", () => {
    let log = appendSerial(empty, b("aaaa"), 4);
    log = appendSerial(log, b("bbbb"), 4);
    log = appendSerial(log, b("cccc"), 4);
    const s = sliceSerial(log, { after: 2 });
    expect(s).toMatchObject({ start: 4, end: 12, truncated: true });
    expect(s.bytes.toString()).toBe("bbbbcccc");
  });
});

describe("reading a growing source", () => {
  it("resumes at the offset, starts over on a new or shorter file, and skips ahead when far behind", () => {
    expect(readWindow({ key: "1", size: 100 }, { key: "1", offset: 40 }, 1000)).toEqual({ from: 40, to: 100 });
    expect(readWindow({ key: "2", size: 100 }, { key: "1", offset: 40 }, 1000)).toEqual({ from: 0, to: 100 });
    expect(readWindow({ key: "1", size: 30 }, { key: "1", offset: 40 }, 1000)).toEqual({ from: 0, to: 30 });
    expect(readWindow({ key: "1", size: 5000 }, { key: null, offset: 0 }, 1000)).toEqual({ from: 4000, to: 5000 });
  });
});
