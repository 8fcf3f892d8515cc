import { readFileSync } from "node:fs";
import { parseDomainXml } from "../server/hypervisor/xml/index.js";
for (const f of ["live.xml", "inactive.xml", "live-iso.xml"]) console.log(JSON.stringify(parseDomainXml(readFileSync("/var/lib/vmdesk-test/" + f, "utf8"))));
