/**
 * Rules for uploaded disk images (pure): which formats are accepted, how a `Content-Range` header of a
 * resumable upload is read, and whether `qemu-img info --output=json` describes a file vmdesk may keep.
 */
export const UPLOAD_FORMATS = ["qcow2", "raw", "iso"] as const;
export type UploadFormat = (typeof UPLOAD_FORMATS)[number];

export function isUploadFormat(s: string): s is UploadFormat {
  return (UPLOAD_FORMATS as readonly string[]).includes(s);
}

/** `bytes START-END/TOTAL` (END inclusive), as a chunk of a resumable upload carries it. */
export interface ContentRange {
  start: number;
  /** Inclusive. */
  end: number;
  total: number;
}

/**
 * Parses a chunk's Content-Range. Only the complete form is accepted: a chunk must say where it
 * starts, where it ends and how large the whole file is (`*` for an unknown total is refused: the
 * quota is reserved for the declared total). Numbers must be safe integers.
 */
export function parseContentRange(header: string | undefined): { ok: true; range: ContentRange } | { ok: false; reason: string } {
  if (header === undefined) return { ok: false, reason: "Content-Range is required: bytes START-END/TOTAL" };
  const m = /^bytes ([0-9]{1,16})-([0-9]{1,16})\/([0-9]{1,16})$/.exec(header.trim());
  if (!m) return { ok: false, reason: "Content-Range must be bytes START-END/TOTAL" };
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![start, end, total].every(Number.isSafeInteger)) return { ok: false, reason: "Content-Range numbers are too large" };
  if (end < start) return { ok: false, reason: "Content-Range END is before START" };
  if (end >= total) return { ok: false, reason: "Content-Range END must be below TOTAL" };
  return { ok: true, range: { start, end, total } };
}

export interface ImageLimits {
  /** Largest virtual disk an image may describe. */
  maxVirtualBytes: number;
}

export type ImageVerdict = { ok: true; virtualBytes: number; minDiskGiB: number } | { ok: false; reason: string };

const GIB = 1024 ** 3;

/**
 * Whether a file, described by `qemu-img info --output=json` (probed, not told the format), may become
 * an image of the `declared` format. Refused:
 * - a detected format other than the declared one (an ISO is a raw file to qemu-img; `isoMagic` says
 *   whether "CD001" sits at byte 32769, where ISO 9660 puts it);
 * - a qcow2 naming a backing file or an external data file: a linked clone of it would open that host
 *   path (e.g. /etc/shadow) as the guest's disk, readable from inside the VM;
 * - a virtual size above the limit, or an unreadable description.
 */
export function judgeImageInfo(info: unknown, declared: UploadFormat, isoMagic: boolean, limits: ImageLimits): ImageVerdict {
  if (typeof info !== "object" || info === null) return { ok: false, reason: "qemu-img could not describe the file" };
  const i = info as Record<string, unknown>;
  const format = typeof i.format === "string" ? i.format : null;
  const virtualBytes = typeof i["virtual-size"] === "number" ? i["virtual-size"] : null;
  if (format === null || virtualBytes === null) return { ok: false, reason: "qemu-img could not describe the file" };
  for (const key of ["backing-filename", "full-backing-filename", "backing-filename-format"]) {
    if (i[key] !== undefined) return { ok: false, reason: `the image names a backing file (${String(i[key])}): images must be self-contained` };
  }
  const specific = i["format-specific"] as { data?: Record<string, unknown> } | undefined;
  const dataFile = specific?.data?.["data-file"];
  if (dataFile !== undefined) return { ok: false, reason: `the image names an external data file (${String(dataFile)}): images must be self-contained` };
  const expected = declared === "iso" ? "raw" : declared;
  if (format !== expected) return { ok: false, reason: `the file is ${format}, not ${declared}` };
  if (declared === "iso" && !isoMagic) return { ok: false, reason: "the file is not an ISO 9660 image (no CD001 at byte 32769)" };
  if (virtualBytes <= 0) return { ok: false, reason: "the image is empty" };
  if (virtualBytes > limits.maxVirtualBytes) {
    return { ok: false, reason: `the image's virtual size (${(virtualBytes / GIB).toFixed(1)} GiB) is above the limit of ${(limits.maxVirtualBytes / GIB).toFixed(0)} GiB` };
  }
  return { ok: true, virtualBytes, minDiskGiB: declared === "iso" ? 1 : Math.max(1, Math.ceil(virtualBytes / GIB)) };
}
