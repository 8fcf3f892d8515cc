import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildDirPoolXml } from "../../../../server/hypervisor/xml/index.ts";

describe("buildDirPoolXml", () => {
  it("builds a dir pool with its target path escaped", () => {
    const xml = buildDirPoolXml({ name: "vmdesk-default", path: "/var/lib/vmdesk/pools/a&b <c> &amp; &x;" });
    expect(XMLValidator.validate(xml)).toBe(true);
    const pool = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", htmlEntities: true }).parse(xml).pool;
    expect(pool["@_type"]).toBe("dir");
    expect(pool.name).toBe("vmdesk-default");
    expect(pool.target.path).toBe("/var/lib/vmdesk/pools/a&b <c> &amp; &x;");
  });

  it.each(["", "a b", "a/b", "<p>"])("rejects the pool name %j", (name) => {
    expect(() => buildDirPoolXml({ name, path: "/x" })).toThrow(/invalid storage pool name/);
  });

  it("rejects a relative path", () => {
    expect(() => buildDirPoolXml({ name: "p", path: "pools/p" })).toThrow(/absolute/);
  });
});
