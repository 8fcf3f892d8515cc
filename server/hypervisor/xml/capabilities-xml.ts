/**
 * The parts of a host's capabilities XML (virConnectGetCapabilities) vmdesk reads: its huge page
 * sizes and how many pages of each size the host has, summed over its NUMA cells. The smallest size
 * the CPU lists is the base page (4 KiB on x86), not a huge page.
 */
import { XMLParser } from "fast-xml-parser";

export interface HugepageCount {
  sizeKiB: number;
  total: number;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (tagName) => tagName === "pages" || tagName === "cell",
});

type Node = Record<string, unknown>;
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : v && typeof v === "object" ? [v as Node] : []);

/** KiB from a `<pages unit=… size=…>` element; libvirt writes KiB, other units are converted. */
function sizeKiB(page: Node): number | null {
  const size = Number(page["@_size"]);
  if (!Number.isSafeInteger(size) || size <= 0) return null;
  const unit = String(page["@_unit"] ?? "KiB");
  const factor = unit === "KiB" ? 1 : unit === "MiB" ? 1024 : unit === "GiB" ? 1024 * 1024 : unit === "b" || unit === "bytes" ? 1 / 1024 : null;
  return factor === null ? null : size * factor;
}

export function parseHugepages(xml: string): HugepageCount[] {
  const caps = (parser.parse(xml) as Node).capabilities as Node | undefined;
  const host = caps?.host as Node | undefined;
  const sizes = list((host?.cpu as Node | undefined)?.pages)
    .map(sizeKiB)
    .filter((s): s is number => s !== null)
    .sort((a, b) => a - b);
  const huge = sizes.slice(1);
  const totals = new Map<number, number>(huge.map((s) => [s, 0]));
  for (const cell of list(((host?.topology as Node | undefined)?.cells as Node | undefined)?.cell)) {
    for (const page of list(cell.pages)) {
      const size = sizeKiB(page);
      const count = Number(page["#text"] ?? 0);
      if (size !== null && totals.has(size) && Number.isSafeInteger(count) && count >= 0) totals.set(size, totals.get(size)! + count);
    }
  }
  return huge.map((s) => ({ sizeKiB: s, total: totals.get(s)! }));
}
