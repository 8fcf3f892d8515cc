import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildSnapshotXml, parseSnapshotXml } from "../../../../server/hypervisor/xml/index.ts";

const parse = (xml: string) => new XMLParser({ htmlEntities: true, parseTagValue: false }).parse(xml).domainsnapshot;

describe("buildSnapshotXml", () => {
  it("builds a name-only snapshot (libvirt's default kind: internal for qcow2)", () => {
    const xml = buildSnapshotXml({ name: "s1" });
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(parse(xml)).toEqual({ name: "s1" });
  });

  it("escapes hostile description text and keeps it unchanged", () => {
    const description = `</description><memory snapshot='external'/> &amp; &foo; ]]> "q" 'a' <b>\nÜnïcødé 🚀`;
    const xml = buildSnapshotXml({ name: "lab-1.before_exam", description });
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml).not.toContain("<memory");
    expect(parse(xml)).toEqual({ name: "lab-1.before_exam", description });
  });

  it.each(["", "a b", "a/b", "<s>", "s1\n", "snap;rm", "ü"])("rejects the snapshot name %j", (name) => {
    expect(() => buildSnapshotXml({ name })).toThrow(/invalid snapshot name/);
  });
});

describe("parseSnapshotXml", () => {
  const libvirtXml = `<domainsnapshot>
  <name>s1</name>
  <description>before &lt;exam&gt; &amp;amp;</description>
  <state>running</state>
  <creationTime>1764286200</creationTime>
  <memory snapshot='internal'/>
  <disks>
    <disk name='vda' snapshot='internal'/>
  </disks>
  <domain type='qemu'>
    <name>vm</name>
    <description>the domain's own description</description>
    <devices><disk type='file' device='disk'><source file='/x.qcow2'/></disk></devices>
  </domain>
</domainsnapshot>`;

  it("reads name, creation time, state and description from libvirt's XML", () => {
    expect(parseSnapshotXml(libvirtXml)).toEqual({
      name: "s1",
      createdAt: new Date(1764286200 * 1000),
      state: "running",
      description: "before <exam> &amp;",
    });
  });

  it("omits an absent description", () => {
    const xml = "<domainsnapshot><name>s2</name><state>shutoff</state><creationTime>5</creationTime></domainsnapshot>";
    expect(parseSnapshotXml(xml)).toEqual({ name: "s2", createdAt: new Date(5000), state: "shutoff" });
  });

  it("rejects documents that are not snapshots or lack a name or creation time", () => {
    expect(() => parseSnapshotXml("<domain><name>x</name></domain>")).toThrow(/no <domainsnapshot>/);
    expect(() => parseSnapshotXml("<domainsnapshot><creationTime>1</creationTime></domainsnapshot>")).toThrow(/no <name>/);
    expect(() => parseSnapshotXml("<domainsnapshot><name>x</name></domainsnapshot>")).toThrow(/creationTime/);
  });
});
