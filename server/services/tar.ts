/**
 * A minimal streaming tar (POSIX ustar) writer for downloads of files already on disk: each member's
 * header, then the file read as a stream, then padding; two zero blocks at the end. Nothing is held in
 * memory beyond one read chunk, and the consumer's backpressure pauses the file reads.
 */
import fs from "node:fs";
import { Readable } from "node:stream";

const BLOCK = 512;
/** The largest size the 11 octal digits of a ustar size field hold; larger sizes use base-256 (GNU, star). */
const OCTAL_SIZE_MAX = 8 ** 11 - 1;

export interface TarMember {
  /** At most 100 bytes of ASCII (the caller sanitises it). */
  name: string;
  path: string;
  size: number;
  mtime: Date;
}

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(value.toString(8).padStart(width - 1, "0") + "\0", offset, width, "ascii");
}

/** The 512-byte ustar header of a regular file. */
export function tarHeader(name: string, size: number, mtime: Date): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar member name longer than 100 bytes: ${name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "utf8");
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  if (size <= OCTAL_SIZE_MAX) octal(h, 124, 12, size);
  else {
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--, v >>= 8n) h[i] = Number(v & 0xffn);
  }
  octal(h, 136, 12, Math.floor(mtime.getTime() / 1000));
  h.write("        ", 148, 8, "ascii");
  h.write("0", 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write("vmdesk", 265, 32, "ascii");
  h.write("vmdesk", 297, 32, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "ascii");
  return h;
}

/** Bytes the archive of `members` will have (for Content-Length). */
export function tarSize(members: ReadonlyArray<Pick<TarMember, "size">>): number {
  return members.reduce((n, m) => n + BLOCK + Math.ceil(m.size / BLOCK) * BLOCK, 0) + 2 * BLOCK;
}

/** The archive as a stream. A file whose size changed since `size` was taken fails the stream. */
export function tarStream(members: readonly TarMember[]): Readable {
  return Readable.from(
    (async function* () {
      for (const m of members) {
        yield tarHeader(m.name, m.size, m.mtime);
        let sent = 0;
        for await (const chunk of fs.createReadStream(m.path, { highWaterMark: 256 * 1024 })) {
          sent += (chunk as Buffer).length;
          if (sent > m.size) throw new Error(`${m.name} grew while being archived`);
          yield chunk as Buffer;
        }
        if (sent !== m.size) throw new Error(`${m.name} shrank while being archived`);
        const pad = (BLOCK - (m.size % BLOCK)) % BLOCK;
        if (pad) yield Buffer.alloc(pad);
      }
      yield Buffer.alloc(2 * BLOCK);
    })(),
    { objectMode: false },
  );
}
