/**
 * Storage pool XML (https://libvirt.org/formatstorage.html). Pure: no I/O.
 */
import { create } from "xmlbuilder2";

/** xmlbuilder2 4.x skips "&" that looks like an entity reference; see the note in domain-xml.ts. */
const x = (value: string): string => value.replace(/&/g, "&amp;");

const POOL_NAME = /^[a-zA-Z0-9_.-]+$/;

export interface DirPoolSpec {
  /** libvirt pool name; an identifier we choose, never user text. */
  name: string;
  /** Absolute directory on the host that holds the volumes. */
  path: string;
}

/**
 * A `type='dir'` pool. Rejects names outside [A-Za-z0-9_.-] and relative paths, because both end up
 * as host file system paths and libvirt object names.
 */
export function buildDirPoolXml(spec: DirPoolSpec): string {
  if (!POOL_NAME.test(spec.name)) throw new Error(`invalid storage pool name: ${JSON.stringify(spec.name)}`);
  if (!spec.path.startsWith("/")) throw new Error(`storage pool path must be absolute: ${JSON.stringify(spec.path)}`);
  const doc = create().ele("pool", { type: "dir" });
  doc.ele("name").txt(x(spec.name));
  doc.ele("target").ele("path").txt(x(spec.path));
  return doc.end({ headless: true, prettyPrint: true });
}
