
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
    expect(d.devices[0].disk.map((disk: { target: Array<Record<string, string>> }) => disk.target[0]["@_dev"])).toEqual([
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
    expect(parsed).toEqual({ name: "foreign", disks: [] });
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
