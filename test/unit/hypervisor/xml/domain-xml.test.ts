import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildDomainXml, parseDomainXml, VMDESK_METADATA_NS, type DomainSpec } from "../../../../server/hypervisor/xml/index.ts";

const HOSTILE = `A <b>&amp; 'x' "y" ]]> <![CDATA[z]]> <!-- c --> &lt; &foo; &#0; &#38;lt; &#x41; && Ünïcødé 日本語 🚀 \u00a0`;

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
const generic = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  trimValues: false,
  htmlEntities: true,
  isArray: (_tag: string, _path: unknown, _leaf: boolean, isAttribute: boolean) => !isAttribute,
});
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function tree(xml: string): any {
  expect(XMLValidator.validate(xml)).toBe(true);
  return generic.parse(xml).domain[0];
}

/** `virsh dumpxml` of a running demo guest (libvirt 9.0, QEMU 7.2), defined from buildDomainXml. */
const LIVE_XML = `<domain type='qemu' id='3'>
  <name>vmdesk-manual</name>
  <uuid>3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a12</uuid>
  <title>manual &lt;test&gt;</title>
  <metadata>
    <vmdesk:vm xmlns:vmdesk="https://vmdesk.dev/xmlns/vm/1">
      <vmdesk:vm-id>vmdesk-manual</vmdesk:vm-id>
      <vmdesk:owner-id>u1</vmdesk:owner-id>
    </vmdesk:vm>
  </metadata>
  <memory unit='KiB'>131072</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <resource>
    <partition>/machine</partition>
  </resource>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <tcg>
      <tb-cache unit='KiB'>32768</tb-cache>
    </tcg>
  </features>
  <cpu mode='custom' match='exact' check='full'>
    <model fallback='forbid'>qemu64</model>
    <feature policy='require' name='hypervisor'/>
    <feature policy='require' name='lahf_lm'/>
  </cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/vmdesk-test/manual/vm.qcow2' index='1'/>
      <backingStore type='file' index='2'>
        <format type='qcow2'/>
        <source file='/var/lib/vmdesk-test/img/vmdesk-demo.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </disk>
    <controller type='usb' index='0' model='piix3-uhci'>
      <alias name='usb'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pci-root'>
      <alias name='pci.0'/>
    </controller>
    <interface type='user'>
      <mac address='52:54:00:76:61:04'/>
      <model type='virtio'/>
      <alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </interface>
    <serial type='pty'>
      <source path='/dev/pts/0'/>
      <log file='/var/lib/vmdesk-test/manual/serial.log' append='off'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
      <alias name='serial0'/>
    </serial>
    <console type='pty' tty='/dev/pts/0'>
      <source path='/dev/pts/0'/>
      <log file='/var/lib/vmdesk-test/manual/serial.log' append='off'/>
      <target type='serial' port='0'/>
      <alias name='serial0'/>
    </console>
    <input type='tablet' bus='usb'>
      <alias name='input0'/>
      <address type='usb' bus='0' port='1'/>
    </input>
    <input type='mouse' bus='ps2'>
      <alias name='input1'/>
    </input>
    <input type='keyboard' bus='ps2'>
      <alias name='input2'/>
    </input>
    <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <audio id='1' type='none'/>
    <video>
      <model type='vga' vram='16384' heads='1' primary='yes'/>
      <alias name='video0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </video>
    <memballoon model='virtio'>
      <alias name='balloon0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </memballoon>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
      <alias name='rng0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x06' function='0x0'/>
    </rng>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'>
    <label>+64055:+64055</label>
    <imagelabel>+64055:+64055</imagelabel>
  </seclabel>
</domain>

`;

/** Same, booted from the ISO, with a hostile title and description as libvirt re-serialises them. */
const LIVE_ISO_XML = `<domain type='qemu' id='4'>
  <name>vmdesk-manual-iso</name>
  <uuid>3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a13</uuid>
  <title>Ünïcødé &lt;b&gt;&amp;&apos;&quot;]]&gt; 🚀 &lt;/title&gt;</title>
  <description>line1
  line2 &lt;x&gt; &amp; ]]&gt;
</description>
  <metadata>
    <vmdesk:vm xmlns:vmdesk="https://vmdesk.dev/xmlns/vm/1">
      <vmdesk:vm-id>vmdesk-manual-iso</vmdesk:vm-id>
      <vmdesk:owner-id>owner-7</vmdesk:owner-id>
      <vmdesk:installation>inst-1</vmdesk:installation>
    </vmdesk:vm>
  </metadata>
  <memory unit='KiB'>131072</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <resource>
    <partition>/machine</partition>
  </resource>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='cdrom'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <tcg>
      <tb-cache unit='KiB'>32768</tb-cache>
    </tcg>
  </features>
  <cpu mode='custom' match='exact' check='full'>
    <model fallback='forbid'>qemu64</model>
    <feature policy='require' name='hypervisor'/>
    <feature policy='require' name='lahf_lm'/>
  </cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/vmdesk-test/img/vmdesk-demo.iso' index='1'/>
      <backingStore/>
      <target dev='sda' bus='sata'/>
      <readonly/>
      <alias name='sata0-0-0'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <controller type='usb' index='0' model='piix3-uhci'>
      <alias name='usb'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pci-root'>
      <alias name='pci.0'/>
    </controller>
    <controller type='sata' index='0'>
      <alias name='sata0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </controller>
    <serial type='pty'>
      <source path='/dev/pts/0'/>
      <log file='/var/lib/vmdesk-test/manual/serial-iso.log' append='off'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
      <alias name='serial0'/>
    </serial>
    <console type='pty' tty='/dev/pts/0'>
      <source path='/dev/pts/0'/>
      <log file='/var/lib/vmdesk-test/manual/serial-iso.log' append='off'/>
      <target type='serial' port='0'/>
      <alias name='serial0'/>
    </console>
    <input type='tablet' bus='usb'>
      <alias name='input0'/>
      <address type='usb' bus='0' port='1'/>
    </input>
    <input type='mouse' bus='ps2'>
      <alias name='input1'/>
    </input>
    <input type='keyboard' bus='ps2'>
      <alias name='input2'/>
    </input>
    <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <audio id='1' type='none'/>
    <video>
      <model type='vga' vram='16384' heads='1' primary='yes'/>
      <alias name='video0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </video>
    <memballoon model='virtio'>
      <alias name='balloon0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </memballoon>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
      <alias name='rng0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </rng>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'>
    <label>+64055:+64055</label>
    <imagelabel>+64055:+64055</imagelabel>
  </seclabel>
</domain>

`;

describe("buildDomainXml", () => {
  it("round-trips through parseDomainXml", () => {
    const parsed = parseDomainXml(buildDomainXml(spec()));
    expect(parsed).toEqual({
      name: "vm_01-abc",
      uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11",
      title: "My VM",
      description: "for tests",
      vnc: { port: null, listen: "127.0.0.1" },
      serialLogPath: "/var/lib/vmdesk/serial/vm_01-abc.log",
      metadata: { vmId: "vm_01-abc", ownerId: "user-42", installation: "inst-1" },
      disks: [
        { path: "/var/lib/vmdesk/pools/default/vm_01-abc.qcow2", device: "disk" },
        { path: "/var/lib/vmdesk/iso/install.iso", device: "cdrom" },
      ],
      interfaces: [{ type: "user" }],
    });
  });

  it("keeps hostile user text exactly and the document well-formed", () => {
    const description = `${HOSTILE}\n  second line\t<script>alert(1)</script>\n`;
    const xml = buildDomainXml(spec({ title: HOSTILE, description }));
    const d = tree(xml);
    expect(d.title[0]).toBe(HOSTILE);
    expect(d.description[0]).toBe(description);
    expect(xml).not.toContain("<script>");
    expect(xml).not.toContain("<![CDATA[");
    expect(xml).not.toContain("<b>");
    const parsed = parseDomainXml(xml);
    expect(parsed.title).toBe(HOSTILE);
    expect(parsed.description).toBe(description);
  });

  it("escapes entity-like text in paths and metadata too", () => {
    const path = "/var/lib/vmdesk/a&amp;b&#38;c&x;.qcow2";
    const xml = buildDomainXml(
      spec({
        disks: [{ path, format: "qcow2", device: "disk" }],
        serialLogPath: "/var/log/&lt;s&gt;.log",
        metadata: { vmId: "v", ownerId: "&owner;", installation: "&amp;" },
      }),
    );
    expect(XMLValidator.validate(xml)).toBe(true);
    const parsed = parseDomainXml(xml);
    expect(parsed.disks[0]?.path).toBe(path);
    expect(parsed.serialLogPath).toBe("/var/log/&lt;s&gt;.log");
    expect(parsed.metadata).toEqual({ vmId: "v", ownerId: "&owner;", installation: "&amp;" });
  });

  it("does not let a title inject elements", () => {
    const title =
      "</title><devices><disk type='file' device='disk'><source file='/etc/shadow'/><target dev='vdz' bus='virtio'/></disk></devices><title>";
    const description = "</description></domain><domain type='kvm'><name>evil</name>";
    const xml = buildDomainXml(spec({ title, description }));
    const d = tree(xml);
    expect(d.devices).toHaveLength(1);
    expect(d.devices[0].disk).toHaveLength(2);
    expect(xml.match(/<disk /g)).toHaveLength(2);
    expect(xml).not.toContain("/etc/shadow'/>");
    const parsed = parseDomainXml(xml);
    expect(parsed.name).toBe("vm_01-abc");
    expect(parsed.title).toBe(title);
    expect(parsed.description).toBe(description);
    expect(parsed.disks.map((disk) => disk.path)).not.toContain("/etc/shadow");
  });

  it("turns line breaks in the title into spaces (libvirt rejects multi-line titles)", () => {
    expect(parseDomainXml(buildDomainXml(spec({ title: "a\nb\r\nc\rd" }))).title).toBe("a b c d");
  });

  it("drops characters XML 1.0 cannot carry instead of emitting a broken document", () => {
    const xml = buildDomainXml(spec({ title: "a\u0000b\u0007c\u001bd" }));
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(parseDomainXml(xml).title).toBe("abcd");
  });

  it.each(["", "a b", "../etc", "vm;rm", "vm/1", "ünï", "vm\n", "<vm>"])("rejects the domain name %j", (name) => {
    expect(() => buildDomainXml(spec({ name }))).toThrow(/invalid domain name/);
  });

  it("rejects malformed UUIDs, sizes and relative paths", () => {
    expect(() => buildDomainXml(spec({ uuid: "not-a-uuid" }))).toThrow(/UUID/);
    expect(() => buildDomainXml(spec({ vcpus: 0 }))).toThrow(/vcpu/);
    expect(() => buildDomainXml(spec({ memoryMiB: 1.5 }))).toThrow(/memory/);
    expect(() => buildDomainXml(spec({ disks: [{ path: "rel.qcow2", format: "qcow2", device: "disk" }] }))).toThrow(/absolute/);
    expect(() => buildDomainXml(spec({ serialLogPath: "serial.log" }))).toThrow(/absolute/);
  });

  it("builds a TCG guest: type qemu, no <cpu>, translation cache", () => {
    const d = tree(buildDomainXml(spec()));
    expect(d["@_type"]).toBe("qemu");
    expect(d.cpu).toBeUndefined();
    expect(d.features[0].acpi).toHaveLength(1);
    expect(d.features[0].apic).toHaveLength(1);
    expect(d.features[0].tcg[0]["tb-cache"][0]).toEqual({ "#text": "32", "@_unit": "MiB" });
  });

  it("builds a KVM guest with host-passthrough and no TCG features", () => {
    const d = tree(buildDomainXml(spec({ domainType: "kvm", cpuMode: "host-passthrough", tcgTbCacheMiB: undefined })));
    expect(d["@_type"]).toBe("kvm");
    expect(d.cpu[0]["@_mode"]).toBe("host-passthrough");
    expect(d.features[0].tcg).toBeUndefined();
    const hostModel = tree(buildDomainXml(spec({ domainType: "kvm", cpuMode: "host-model", tcgTbCacheMiB: undefined })));
    expect(hostModel.cpu[0]["@_mode"]).toBe("host-model");
  });

  it("refuses TCG settings on a KVM domain", () => {
    expect(() => buildDomainXml(spec({ domainType: "kvm", cpuMode: "host-passthrough", tcgTbCacheMiB: 32 }))).toThrow(/qemu/);
  });

  it("lays out devices, lifecycle actions and boot order", () => {
    const d = tree(buildDomainXml(spec({ network: { type: "network", name: "default" }, boot: ["cdrom", "hd"] })));
    expect(d.on_poweroff[0]).toBe("destroy");
    expect(d.on_reboot[0]).toBe("restart");
    expect(d.on_crash[0]).toBe("destroy");
    expect(d.memory[0]).toEqual({ "#text": "128", "@_unit": "MiB" });
    expect(d.vcpu[0]["#text"]).toBe("2");
    expect(d.os[0].type[0]["@_machine"]).toBe("pc");
    expect(d.os[0].boot.map((b: Record<string, string>) => b["@_dev"])).toEqual(["cdrom", "hd"]);
    const dev = d.devices[0];
    expect(dev.disk.map((disk: { target: Array<Record<string, string>> }) => disk.target[0])).toEqual([
      { "@_dev": "vda", "@_bus": "virtio" },
      { "@_dev": "sda", "@_bus": "sata" },
    ]);
    expect(dev.disk[1].readonly).toHaveLength(1);
    expect(dev.disk[0].driver[0]["@_type"]).toBe("qcow2");
    expect(dev.interface[0]["@_type"]).toBe("network");
    expect(dev.interface[0].source[0]["@_network"]).toBe("default");
    expect(dev.serial[0]["@_type"]).toBe("pty");
    expect(dev.serial[0].log[0]).toEqual({ "@_file": "/var/lib/vmdesk/serial/vm_01-abc.log", "@_append": "off" });
    expect(dev.console[0]["@_type"]).toBe("pty");
    expect(dev.input[0]).toEqual({ "@_type": "tablet", "@_bus": "usb" });
    expect(dev.graphics[0]).toMatchObject({ "@_type": "vnc", "@_autoport": "yes", "@_listen": "127.0.0.1" });
    expect(dev.video[0].model[0]["@_type"]).toBe("vga");
  });

  it("puts VNC on a unix socket libvirt places, with no port or listen address", () => {
    const d = tree(buildDomainXml(spec({ graphics: { unixSocket: true } })));
    const graphics = d.devices[0].graphics;
    expect(graphics).toHaveLength(1);
    expect(Object.keys(graphics[0]).filter((k) => k.startsWith("@_"))).toEqual(["@_type"]);
    expect(graphics[0]["@_type"]).toBe("vnc");
    expect(graphics[0].listen).toEqual([{ "@_type": "socket" }]);
  });

  it("omits the network interface and serial log when not asked for", () => {
    const d = tree(buildDomainXml(spec({ network: null, serialLogPath: undefined, description: undefined })));
    expect(d.devices[0].interface).toBeUndefined();
    expect(d.devices[0].serial[0].log).toBeUndefined();
    expect(d.description).toBeUndefined();
  });

  it("numbers disks per bus", () => {
    const disks: DomainSpec["disks"] = [
      { path: "/a.qcow2", format: "qcow2", device: "disk" },
      { path: "/b.iso", format: "raw", device: "cdrom" },
      { path: "/c.raw", format: "raw", device: "disk", bus: "sata" },
      { path: "/d.qcow2", format: "qcow2", device: "disk" },
    ];
    const d = tree(buildDomainXml(spec({ disks })));
    expect(d.devices[0].disk.map((disk: { target: Array<Record<string, string>> }) => disk.target[0]?.["@_dev"])).toEqual([
      "vda",
      "sda",
      "sdb",
      "vdb",
    ]);
  });

  it("puts vmdesk's ids in a namespaced metadata element", () => {
    const vm = tree(buildDomainXml(spec({ metadata: { vmId: "vm_01-abc", ownerId: "user-42" } }))).metadata[0]["vmdesk:vm"][0];
    expect(vm["@_xmlns:vmdesk"]).toBe(VMDESK_METADATA_NS);
    expect(vm["vmdesk:vm-id"][0]).toBe("vm_01-abc");
    expect(vm["vmdesk:owner-id"][0]).toBe("user-42");
    expect(vm["vmdesk:installation"]).toBeUndefined();
  });
});

describe("parseDomainXml", () => {
  it("reads the VNC port, serial log and metadata from libvirt's live XML", () => {
    expect(parseDomainXml(LIVE_XML)).toEqual({
      name: "vmdesk-manual",
      uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a12",
      title: "manual <test>",
      vnc: { port: 5900, listen: "127.0.0.1" },
      serialLogPath: "/var/lib/vmdesk-test/manual/serial.log",
      metadata: { vmId: "vmdesk-manual", ownerId: "u1" },
      disks: [{ path: "/var/lib/vmdesk-test/manual/vm.qcow2", device: "disk" }],
      interfaces: [{ type: "user" }],
    });
  });

  it("decodes libvirt's re-escaped user text (&apos;, &quot;, unicode)", () => {
    const parsed = parseDomainXml(LIVE_ISO_XML);
    expect(parsed.title).toBe("Ünïcødé <b>&'\"]]> 🚀 </title>");
    expect(parsed.description).toBe("line1\n  line2 <x> & ]]>\n");
    expect(parsed.metadata).toEqual({ vmId: "vmdesk-manual-iso", ownerId: "owner-7", installation: "inst-1" });
    expect(parsed.disks).toEqual([{ path: "/var/lib/vmdesk-test/img/vmdesk-demo.iso", device: "cdrom" }]);
  });

  it("reports port null while the domain is not running (port='-1')", () => {
    const inactive = LIVE_XML.replace("port='5900'", "port='-1'");
    expect(parseDomainXml(inactive).vnc).toEqual({ port: null, listen: "127.0.0.1" });
  });

  it("reads a socket display's path (libvirt's live XML has no port for it)", () => {
    const live = LIVE_XML.replace(
      /<graphics type='vnc'[\s\S]*?<\/graphics>/,
      "<graphics type='vnc' socket='/var/lib/libvirt/qemu/vmdesk-manual.vnc.sock'><listen type='socket' socket='/var/lib/libvirt/qemu/vmdesk-manual.vnc.sock'/></graphics>",
    );
    expect(parseDomainXml(live).vnc).toEqual({ port: null, socketPath: "/var/lib/libvirt/qemu/vmdesk-manual.vnc.sock" });
    const listenOnly = `<domain type='qemu'><name>s</name><devices><graphics type='vnc'><listen type='socket' socket='/run/s.sock'/></graphics></devices></domain>`;
    expect(parseDomainXml(listenOnly).vnc).toEqual({ port: null, socketPath: "/run/s.sock" });
  });

  it("finds our metadata by namespace, whatever the prefix", () => {
    const xml = `<domain type='qemu'><name>x</name><metadata>
      <other:thing xmlns:other="https://example.com/x"><other:vm-id>no</other:vm-id></other:thing>
      <v:vm xmlns:v="${VMDESK_METADATA_NS}"><v:vm-id>x</v:vm-id><v:owner-id>o</v:owner-id></v:vm>
    </metadata><devices/></domain>`;
    expect(parseDomainXml(xml).metadata).toEqual({ vmId: "x", ownerId: "o" });
  });

  it("leaves metadata undefined on domains that are not ours", () => {
    const xml = `<domain type='kvm'><name>foreign</name><metadata><x:vm xmlns:x="https://example.com/vm"><x:vm-id>1</x:vm-id><x:owner-id>2</x:owner-id></x:vm></metadata></domain>`;
    const parsed = parseDomainXml(xml);
    expect(parsed).toEqual({ name: "foreign", disks: [], interfaces: [] });
  });

  it("handles block devices, empty CD-ROM drives and SPICE-only domains", () => {
    const xml = `<domain type='kvm'><name>d</name><devices>
      <disk type='block' device='disk'><source dev='/dev/vg/d'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><target dev='sda'/></disk>
      <graphics type='spice' port='5901'/>
    </devices></domain>`;
    const parsed = parseDomainXml(xml);
    expect(parsed.disks).toEqual([{ path: "/dev/vg/d", device: "disk" }, { device: "cdrom" }]);
    expect(parsed.vnc).toBeUndefined();
  });

  it("rejects documents that are not a domain", () => {
    expect(() => parseDomainXml("<pool type='dir'><name>p</name></pool>")).toThrow(/domain/);
    expect(() => parseDomainXml("<domain type='kvm'></domain>")).toThrow(/name/);
  });
});

describe("serial console on a unix socket", () => {
  const LIVE_UNIX_SERIAL = `<domain type='qemu' id='7'><name>vmdesk-x</name><devices>
    <serial type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/vmdesk-x.serial.sock'/>
      <log file='/var/log/libvirt/qemu/vmdesk-x-serial.log' append='off'/>
      <target type='isa-serial' port='0'><model name='isa-serial'/></target>
      <alias name='serial0'/>
    </serial>
    <console type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/vmdesk-x.serial.sock'/>
      <target type='serial' port='0'/>
    </console>
  </devices></domain>`;

  it("builds a bind-mode unix chardev and keeps the log file; pty stays the default", () => {
    const xml = buildDomainXml(spec({ serialSocketPath: "/var/lib/libvirt/qemu/vm_01-abc.serial.sock" }));
    expect(xml).toMatch(/<serial type="unix">\s*<source mode="bind" path="\/var\/lib\/libvirt\/qemu\/vm_01-abc.serial.sock"\/>\s*<log file="\/var\/lib\/vmdesk\/serial\/vm_01-abc.log"/);
    expect(xml).toMatch(/<console type="unix">/);
    expect(parseDomainXml(xml).serialSocketPath).toBe("/var/lib/libvirt/qemu/vm_01-abc.serial.sock");
    expect(parseDomainXml(xml).serialLogPath).toBe("/var/lib/vmdesk/serial/vm_01-abc.log");
    const pty = buildDomainXml(spec());
    expect(pty).toMatch(/<serial type="pty">/);
    expect(parseDomainXml(pty).serialSocketPath).toBeUndefined();
    expect(() => buildDomainXml(spec({ serialSocketPath: "relative.sock" }))).toThrow(/absolute/);
  });

  it("reads the socket path from libvirt's live XML", () => {
    expect(parseDomainXml(LIVE_UNIX_SERIAL)).toMatchObject({ serialSocketPath: "/var/lib/libvirt/qemu/vmdesk-x.serial.sock", serialLogPath: "/var/log/libvirt/qemu/vmdesk-x-serial.log" });
  });
});

describe("guest network interfaces", () => {
  it("references the interface's nwfilter and reads interfaces back", () => {
    const xml = buildDomainXml(spec({ network: { type: "network", name: "vmdesk-nat", filter: "vmdesk-guest" } }));
    const iface = tree(xml).devices[0].interface;
    expect(iface).toHaveLength(1);
    expect(iface[0].source[0]["@_network"]).toBe("vmdesk-nat");
    expect(iface[0].filterref).toEqual([{ "@_filter": "vmdesk-guest" }]);
    expect(parseDomainXml(xml).interfaces).toEqual([{ type: "network", network: "vmdesk-nat", filter: "vmdesk-guest" }]);
  });

  it("reads user-mode and filterless interfaces as they are (what the start handler upgrades)", () => {
    expect(parseDomainXml(buildDomainXml(spec({ network: { type: "user" } }))).interfaces).toEqual([{ type: "user" }]);
    expect(parseDomainXml(buildDomainXml(spec({ network: { type: "network", name: "c" } }))).interfaces).toEqual([{ type: "network", network: "c" }]);
    expect(parseDomainXml(buildDomainXml(spec({ network: null }))).interfaces).toEqual([]);
  });

  it("passes filter parameters, escaped, and refuses parameter names libvirt would not accept", () => {
    const network = { type: "network" as const, name: "n", filter: "f", filterParameters: { CTRL_IP_LEARNING: "dhcp", DHCPSERVER: `1'"<&>` } };
    const iface = tree(buildDomainXml(spec({ network }))).devices[0].interface[0];
    expect(iface.filterref[0].parameter).toEqual([
      { "@_name": "CTRL_IP_LEARNING", "@_value": "dhcp" },
      { "@_name": "DHCPSERVER", "@_value": `1'"<&>` },
    ]);
    expect(() => buildDomainXml(spec({ network: { ...network, filterParameters: { "a b": "x" } } }))).toThrow(/parameter name/);
  });

  it.each(["", "a b", "x'", "<f>", "a/b"])("rejects the nwfilter name %j", (filter) => {
    expect(() => buildDomainXml(spec({ network: { type: "network", name: "n", filter } }))).toThrow(/invalid nwfilter name/);
  });
});
