import { XMLParser } from "fast-xml-parser";
import { buildDomainXml, parseDomainXml } from "../server/hypervisor/xml/index.js";
const p = new XMLParser({ processEntities: true, htmlEntities: false, trimValues: false, parseTagValue: false });
const H = `A <b>&amp; 'x' "y" ]]> <![CDATA[z]]> <!-- c --> &lt; Ü`;
for (const s of [H, `&amp; <!-- c -->`, `&amp; <![CDATA[z]]>`, `&amp; ]]>`, `&amp; "y"`, `&amp; 'x'`]) {
  const xml = buildDomainXml({ name: "a", uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11", title: s, vcpus: 1, memoryMiB: 1, domainType: "qemu", cpuMode: "none", disks: [], boot: [], network: null, graphics: { listen: "x" }, metadata: { vmId: "a", ownerId: "b" } });
  console.log(JSON.stringify(s), "=>", JSON.stringify(parseDomainXml(xml).title), xml.split("\n")[3]);
}
