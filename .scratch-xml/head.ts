import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildDomainXml, parseDomainXml, VMDESK_METADATA_NS, type DomainSpec } from "../../../../server/hypervisor/xml/index.ts";

const HOSTILE = `A <b>&amp; 'x' "y" ]]> <![CDATA[z]]> <!-- c --> &lt; Ünïcødé 日本語 🚀 \u00a0`;

function spec(overrides: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name: "vm_01-abc",
    uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11",
    title: "My VM",
    description: "for tests",
    vcpus: 2,
    memoryMiB: 128,
    domainType: "qemu",
    cpuMode: "none",
    tcgTbCacheMiB: 32,
    disks: [
      { path: "/var/lib/vmdesk/pools/default/vm_01-abc.qcow2", format: "qcow2", device: "disk" },
      { path: "/var/lib/vmdesk/iso/install.iso", format: "raw", device: "cdrom" },
    ],
    boot: ["hd", "cdrom"],
    network: { type: "user" },
    graphics: { listen: "127.0.0.1" },
    serialLogPath: "/var/lib/vmdesk/serial/vm_01-abc.log",
    metadata: { vmId: "vm_01-abc", ownerId: "user-42", installation: "inst-1" },
    ...overrides,
  };
}

/** Generic view of the document, to check structure independently of parseDomainXml. */
const generic = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseTagValue: false, trimValues: false, isArray: () => true });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function tree(xml: string): any {
  expect(XMLValidator.validate(xml)).toBe(true);
  return generic.parse(xml).domain[0];
}

