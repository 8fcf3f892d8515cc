export { buildDomainXml, parseDomainXml, VMDESK_METADATA_NS } from "./domain-xml.js";
export type { DiskSpec, DomainSpec, ParsedDomain, VmdeskMetadata } from "./domain-xml.js";
export { buildVolumeXml } from "./volume-xml.js";
export type { VolumeSpec } from "./volume-xml.js";
export { buildDirPoolXml } from "./pool-xml.js";
export type { DirPoolSpec } from "./pool-xml.js";
