import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildVolumeXml } from "../../../../server/hypervisor/xml/index.ts";

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseTagValue: false, htmlEntities: true });

function parse(xml: string) {
  expect(XMLValidator.validate(xml)).toBe(true);
  return parser.parse(xml).volume;
}

describe("buildVolumeXml", () => {
  it("builds a qcow2 volume with compat 1.1", () => {
    const v = parse(buildVolumeXml({ name: "vm-1.qcow2", capacityBytes: 10 * 2 ** 30, format: "qcow2" }));
    expect(v.name).toBe("vm-1.qcow2");
    expect(v.capacity).toEqual({ "#text": "10737418240", "@_unit": "bytes" });
    expect(v.target.format["@_type"]).toBe("qcow2");
    expect(v.target.compat).toBe("1.1");
    expect(v.backingStore).toBeUndefined();
  });

  it("builds a linked clone with a backing store", () => {
    const v = parse(
      buildVolumeXml({
        name: "vm-2.qcow2",
        capacityBytes: 2 ** 26,
        format: "qcow2",
        backing: { path: "/var/lib/vmdesk/images/base & <co> &amp; &#38;.qcow2", format: "qcow2" },
      }),
    );
    expect(v.backingStore.path).toBe("/var/lib/vmdesk/images/base & <co> &amp; &#38;.qcow2");
    expect(v.backingStore.format["@_type"]).toBe("qcow2");
  });

  it("builds a raw volume without compat", () => {
    const v = parse(buildVolumeXml({ name: "disk.raw", capacityBytes: 4096, format: "raw" }));
    expect(v.target.format["@_type"]).toBe("raw");
    expect(v.target.compat).toBeUndefined();
  });

  it.each(["", "..", "a/b", "../x", "a b", "<x>"])("rejects the volume name %j", (name) => {
    expect(() => buildVolumeXml({ name, capacityBytes: 1, format: "raw" })).toThrow(/invalid volume name/);
  });

  it("rejects bad capacities, relative backing paths and backed raw volumes", () => {
    expect(() => buildVolumeXml({ name: "a", capacityBytes: 0, format: "raw" })).toThrow(/capacity/);
    expect(() => buildVolumeXml({ name: "a", capacityBytes: 1.5, format: "raw" })).toThrow(/capacity/);
    expect(() =>
      buildVolumeXml({ name: "a", capacityBytes: 1, format: "qcow2", backing: { path: "base.qcow2", format: "qcow2" } }),
    ).toThrow(/absolute/);
    expect(() =>
      buildVolumeXml({ name: "a", capacityBytes: 1, format: "raw", backing: { path: "/base.qcow2", format: "qcow2" } }),
    ).toThrow(/qcow2/);
  });
});
