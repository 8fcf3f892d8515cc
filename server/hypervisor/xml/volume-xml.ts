/**
 * Storage volume XML (https://libvirt.org/formatstorage.html#storage-volume-xml). Pure: no I/O.
 */
import { create } from "xmlbuilder2";

/** xmlbuilder2 4.x skips "&" that looks like an entity reference; see the note in domain-xml.ts. */
const x = (value: string): string => value.replace(/&/g, "&amp;");

const VOLUME_NAME = /^[a-zA-Z0-9_.-]+$/;

export interface VolumeSpec {
  /** File name inside the pool; an identifier we choose, never user text. */
  name: string;
  capacityBytes: number;
  format: "qcow2" | "raw";
  /** Makes a linked clone: reads fall through to this image, writes stay in the new volume. */
  backing?: { path: string; format: "qcow2" | "raw" };
}

/**
 * A volume for `virStorageVolCreateXML`. qcow2 volumes get `<compat>1.1</compat>` (libvirt's default
 * is 0.10, which lacks lazy refcounts and zero clusters).
 */
export function buildVolumeXml(spec: VolumeSpec): string {
  if (!VOLUME_NAME.test(spec.name) || spec.name === "." || spec.name === "..") {
    throw new Error(`invalid volume name: ${JSON.stringify(spec.name)}`);
  }
  if (!Number.isSafeInteger(spec.capacityBytes) || spec.capacityBytes < 1) {
    throw new Error(`invalid volume capacity: ${spec.capacityBytes}`);
  }
  if (spec.backing && !spec.backing.path.startsWith("/")) {
    throw new Error(`backing path must be absolute: ${JSON.stringify(spec.backing.path)}`);
  }
  if (spec.backing && spec.format !== "qcow2") throw new Error("only qcow2 volumes can have a backing store");

  const volume = create().ele("volume");
  volume.ele("name").txt(x(spec.name));
  volume.ele("capacity", { unit: "bytes" }).txt(String(spec.capacityBytes));
  const target = volume.ele("target");
  target.ele("format", { type: spec.format });
  if (spec.format === "qcow2") target.ele("compat").txt("1.1");
  if (spec.backing) {
    const backing = volume.ele("backingStore");
    backing.ele("path").txt(x(spec.backing.path));
    backing.ele("format", { type: spec.backing.format });
  }
  return volume.end({ headless: true, prettyPrint: true });
}
