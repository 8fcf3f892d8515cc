/**
 * Domain snapshot XML (https://libvirt.org/formatsnapshot.html). Pure: no I/O.
 *
 * The description is user text: always a text node escaped by xmlbuilder2, never spliced into markup.
 */
import { XMLParser } from "fast-xml-parser";
import { create } from "xmlbuilder2";

/** xmlbuilder2 4.x skips "&" that looks like an entity reference; see the note in domain-xml.ts. */
const x = (value: string): string => value.replace(/&/g, "&amp;");

/** Snapshot names become libvirt object names and qcow2 internal snapshot tags. */
const SNAPSHOT_NAME = /^[A-Za-z0-9_.-]+$/;

export interface SnapshotSpec {
  name: string;
  /** Free text, stored by libvirt as given. */
  description?: string;
}

/** What vmdesk reads back from libvirt's snapshot XML. */
export interface ParsedSnapshot {
  name: string;
  /** From `<creationTime>` (seconds since the epoch). */
  createdAt: Date;
  /** The domain's state when the snapshot was taken (virDomainSnapshotState name: running, shutoff, paused, …). */
  state: string;
  description?: string;
}

/** True when `name` is acceptable as a snapshot name. */
export function isValidSnapshotName(name: string): boolean {
  return SNAPSHOT_NAME.test(name);
}

/**
 * A `<domainsnapshot>` with only a name and description: libvirt then picks the default kind, which
 * for qcow2 disks is an internal snapshot (with RAM when the domain runs), the only kind libvirt 9.0
 * can revert.
 */
export function buildSnapshotXml(spec: SnapshotSpec): string {
  if (!isValidSnapshotName(spec.name)) throw new Error(`invalid snapshot name: ${JSON.stringify(spec.name)}`);
  const doc = create({ invalidCharReplacement: "" }).ele("domainsnapshot");
  doc.ele("name").txt(x(spec.name));
  if (spec.description !== undefined) doc.ele("description").txt(x(spec.description));
  return doc.end({ headless: true, prettyPrint: true });
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  // The snapshot XML embeds the whole domain XML; we never need it.
  stopNodes: ["domainsnapshot.domain", "domainsnapshot.inactiveDomain", "domainsnapshot.cookie"],
});

/** Reads name, creation time, state and description from libvirt's snapshot XML. */
export function parseSnapshotXml(xml: string): ParsedSnapshot {
  const root = (parser.parse(xml) as { domainsnapshot?: unknown }).domainsnapshot;
  if (typeof root !== "object" || root === null) throw new Error("not a snapshot XML document: no <domainsnapshot> root");
  const node = root as Record<string, unknown>;
  const name = leaf(node.name)?.trim();
  if (!name) throw new Error("snapshot XML has no <name>");
  const seconds = Number(leaf(node.creationTime)?.trim());
  if (!Number.isFinite(seconds)) throw new Error(`snapshot ${name} has no valid <creationTime>`);
  const result: ParsedSnapshot = { name, createdAt: new Date(seconds * 1000), state: leaf(node.state)?.trim() ?? "nostate" };
  const description = leaf(node.description);
  if (description !== undefined) result.description = description;
  return result;
}

/** Text of a leaf element: "" for an empty one, undefined when absent. */
function leaf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const t = (value as Record<string, unknown>)["#text"];
    return typeof t === "string" ? t : "";
  }
  return undefined;
}
