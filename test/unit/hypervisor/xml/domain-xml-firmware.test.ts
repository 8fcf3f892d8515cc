import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildDomainXml, FIRMWARE_MIN_MEMORY_MIB, parseDomainXml, type DomainSpec } from "../../../../server/hypervisor/xml/index.ts";

function spec(overrides: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name: "vm_fw",
    uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a13",
    title: "firmware",
    vcpus: 1,
    memoryMiB: 512,
    domainType: "qemu",
    cpuMode: "none",
    tcgTbCacheMiB: 32,
    disks: [
      { path: "/pool/vm_fw.qcow2", format: "qcow2", device: "disk", bus: "virtio" },
      { path: "/images/install.iso", format: "raw", device: "cdrom", bus: "sata" },
      { path: "/pool/vm_fw-cidata.iso", format: "raw", device: "cdrom", bus: "ide" },
    ],
    boot: ["hd"],
    network: null,
    graphics: { unixSocket: true },
    metadata: { vmId: "vm_fw", ownerId: "u1" },
    ...overrides,
  };
}

const generic = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  trimValues: false,
  isArray: (_tag: string, _path: unknown, _leaf: boolean, isAttribute: boolean) => !isAttribute,
});
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function tree(xml: string): any {
  expect(XMLValidator.validate(xml)).toBe(true);
  return generic.parse(xml).domain[0];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const targets = (d: any) => d.devices[0].disk.map((disk: any) => `${disk.target[0]["@_dev"]}:${disk.target[0]["@_bus"]}`);

/** The `<os>` and `<tpm>` of `virsh dumpxml` of a running Secure Boot guest (libvirt 9.0, Debian 12's ovmf). */
const LIVE_SECURE = `<domain type='qemu' id='85'>
  <name>fwexp-sb</name>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <firmware>
      <feature enabled='yes' name='enrolled-keys'/>
      <feature enabled='yes' name='secure-boot'/>
    </firmware>
    <loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'>/var/lib/libvirt/qemu/nvram/fwexp-sb_VARS.fd</nvram>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/><smm state='on'/></features>
  <devices>
    <tpm model='tpm-crb'>
      <backend type='emulator' version='2.0'/>
      <alias name='tpm0'/>
    </tpm>
  </devices>
</domain>`;

describe("buildDomainXml firmware and TPM", () => {
  it("leaves the XML of a BIOS guest exactly as before when firmware and tpm are absent or off", () => {
    const plain = buildDomainXml(spec());
    expect(buildDomainXml(spec({ firmware: { type: "bios" }, tpm: false }))).toBe(plain);
    const d = tree(plain);
    expect(d.os[0]["@_firmware"]).toBeUndefined();
    expect(d.os[0].type[0]["@_machine"]).toBe("pc");
    expect(d.os[0].firmware).toBeUndefined();
    expect(d.os[0].loader).toBeUndefined();
    expect(d.features[0].smm).toBeUndefined();
    expect(d.devices[0].tpm).toBeUndefined();
    expect(targets(d)).toEqual(["vda:virtio", "sda:sata", "hda:ide"]);
    const parsed = parseDomainXml(plain);
    expect(parsed.firmware).toBeUndefined();
    expect(parsed.tpm).toBeUndefined();
  });

  it("asks libvirt for OVMF without Secure Boot on q35, the IDE seed becoming a virtio-scsi CD-ROM", () => {
    const xml = buildDomainXml(spec({ firmware: { type: "uefi" } }));
    const d = tree(xml);
    expect(d.os[0]["@_firmware"]).toBe("efi");
    expect(d.os[0].type[0]["@_machine"]).toBe("q35");
    expect(d.os[0].firmware[0].feature).toEqual([
      { "@_enabled": "no", "@_name": "secure-boot" },
      { "@_enabled": "no", "@_name": "enrolled-keys" },
    ]);
    expect(d.os[0].loader).toBeUndefined();
    expect(d.features[0].smm).toBeUndefined();
    expect(d.devices[0].controller).toEqual([{ "@_type": "scsi", "@_index": "0", "@_model": "virtio-scsi" }]);
    expect(targets(d)).toEqual(["vda:virtio", "sda:sata", "sdb:scsi"]);
    expect(parseDomainXml(xml).firmware).toEqual({ type: "uefi", secureBoot: false });
  });

  it("requests Secure Boot with enrolled keys, a secure loader and SMM", () => {
    const xml = buildDomainXml(spec({ firmware: { type: "uefi", secureBoot: true } }));
    const d = tree(xml);
    expect(d.os[0]["@_firmware"]).toBe("efi");
    expect(d.os[0].type[0]["@_machine"]).toBe("q35");
    expect(d.os[0].firmware[0].feature).toEqual([
      { "@_enabled": "yes", "@_name": "secure-boot" },
      { "@_enabled": "yes", "@_name": "enrolled-keys" },
    ]);
    expect(d.os[0].loader).toEqual([{ "@_secure": "yes" }]);
    expect(d.features[0].smm).toEqual([{ "@_state": "on" }]);
    expect(parseDomainXml(xml).firmware).toEqual({ type: "uefi", secureBoot: true });
  });

  it("adds an swtpm-backed TPM 2.0: TIS on pc, CRB on q35", () => {
    const bios = tree(buildDomainXml(spec({ tpm: true })));
    expect(bios.devices[0].tpm).toMatchObject([{ "@_model": "tpm-tis", backend: [{ "@_type": "emulator", "@_version": "2.0" }] }]);
    const uefiXml = buildDomainXml(spec({ firmware: { type: "uefi" }, tpm: true }));
    expect(tree(uefiXml).devices[0].tpm[0]["@_model"]).toBe("tpm-crb");
    expect(parseDomainXml(uefiXml).tpm).toBe(true);
  });

  it("refuses Secure Boot without UEFI", () => {
    expect(() => buildDomainXml(spec({ firmware: { type: "bios", secureBoot: true } }))).toThrow(/Secure Boot needs UEFI/);
    expect(FIRMWARE_MIN_MEMORY_MIB.secureBoot).toBeGreaterThan(FIRMWARE_MIN_MEMORY_MIB.uefi);
  });
});

describe("parseDomainXml firmware and TPM", () => {
  it("reads libvirt's live XML, where the firmware is resolved to a pflash loader", () => {
    const parsed = parseDomainXml(LIVE_SECURE);
    expect(parsed.firmware).toEqual({ type: "uefi", secureBoot: true });
    expect(parsed.tpm).toBe(true);
  });

  it("reads a live UEFI guest without Secure Boot, and SeaBIOS as no firmware entry", () => {
    const efi = LIVE_SECURE.replace(/ secure='yes'/, "").replace(/enabled='yes'/g, "enabled='no'").replace(/\.ms\.fd/g, ".fd");
    expect(parseDomainXml(efi).firmware).toEqual({ type: "uefi", secureBoot: false });
    const bios = `<domain type='qemu'><name>b</name><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os><devices/></domain>`;
    expect(parseDomainXml(bios).firmware).toBeUndefined();
    expect(parseDomainXml(bios).tpm).toBeUndefined();
  });
});
