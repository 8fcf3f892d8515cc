/**
 * Domain XML (https://libvirt.org/formatdomain.html). Pure: no I/O.
 *
 * Built with xmlbuilder2 and parsed with fast-xml-parser so that user text (title, description) is
 * always a text node escaped by the library, never spliced into markup.
 */
import { create } from "xmlbuilder2";
import type { XMLBuilder } from "xmlbuilder2/lib/interfaces.js";
import { XMLParser } from "fast-xml-parser";
import { addBandwidth, addCputune, addHostdevs, addIotune, addMemoryBacking, addNuma, validateTuning, type BandwidthSpec, type CpuTuneSpec, type IoTuneSpec, type NumaSpec, type PciHostdev } from "./tuning-xml.ts";

/** Namespace of vmdesk's `<metadata>` child; the reconciler recognises our domains by it. */
export const VMDESK_METADATA_NS = "https://vmdesk.dev/xmlns/vm/1";
const METADATA_PREFIX = "vmdesk";

/**
 * xmlbuilder2 4.x leaves "&" unescaped when it already looks like an entity or character reference
 * ("&amp;", "&foo;", "&#0;"), so user text such as "&lt;" would come back as "<" and "&foo;" would make
 * the document ill-formed. Escaping "&" first leaves it nothing to skip: every "&" it sees is then the
 * start of "&amp;". Every string we hand to txt() or an attribute goes through this.
 */
const x = (value: string): string => value.replace(/&/g, "&amp;");

/** UEFI memory floors (measured; domain/flavor.ts): not enforced here, a spec below them builds and fails at boot. */
export { FIRMWARE_MIN_MEMORY_MIB } from "../../domain/flavor.ts";

const DOMAIN_NAME = /^[a-zA-Z0-9_-]+$/;
const UUID = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

export interface DiskSpec {
  /** Absolute host path of the image. */
  path: string;
  format: "qcow2" | "raw";
  device: "disk" | "cdrom";
  /**
   * Default: virtio for disks, sata for CD-ROMs (SeaBIOS boots both; libvirt adds the AHCI controller
   * on `pc`). ide: the `pc` machine's built-in PIIX controller, for guests whose kernel lacks AHCI
   * (Debian's cloud kernel: the cloud-init seed disc); at most 4 devices. q35 (UEFI guests) has no
   * IDE: there an "ide" disc becomes a virtio-scsi CD-ROM, which the same kernels read (virtio_scsi,
   * sr_mod). scsi: a virtio-scsi controller is added; targets share the sd* names with sata.
   */
  bus?: "virtio" | "sata" | "ide" | "scsi";
  /**
   * Host page cache mode. "none" (O_DIRECT) for disks on shared storage: libvirt allows a live
   * migration that leaves the disk in place only then, because the destination reads the file
   * through its own cache. Default: the hypervisor's (writeback).
   */
  cache?: "none";
  /** Disk I/O limits (flavors). */
  iotune?: IoTuneSpec;
}

export interface DomainSpec {
  /** libvirt domain name = vmdesk id; only [A-Za-z0-9_-]. */
  name: string;
  uuid: string;
  /** The user's display name: arbitrary text. Line breaks become spaces (libvirt rejects them in a title). */
  title: string;
  description?: string;
  vcpus: number;
  memoryMiB: number;
  /** Hot-plug ceiling (`<vcpu current=vcpus>maxVcpus</vcpu>`); default: vcpus. */
  maxVcpus?: number;
  /** Balloon ceiling (`<memory>`, with `<currentMemory>` = memoryMiB); default: memoryMiB. */
  maxMemoryMiB?: number;
  domainType: "kvm" | "qemu";
  /** "none" omits `<cpu>`: QEMU's default model, the only choice that works under TCG here. */
  cpuMode: "host-passthrough" | "host-model" | "none";
  /** TCG translation block cache; only for domainType "qemu". */
  tcgTbCacheMiB?: number;
  disks: DiskSpec[];
  boot: Array<"hd" | "cdrom">;
  /**
   * A libvirt network, optionally with the nwfilter its interface references (`<filterref>`).
   * `user` (QEMU user-mode networking) lets the guest reach the host's loopback as 10.0.2.2: kept
   * only so older definitions parse and tests can reproduce them; vmdesk no longer defines it.
   */
  network: { type: "user" } | { type: "network"; name: string; filter?: string; filterParameters?: Record<string, string>; bandwidth?: BandwidthSpec } | null;
  /**
   * VNC on a unix socket (no TCP port at all) that libvirt places in the domain's private directory
   * (`/var/lib/libvirt/qemu/domain-<id>-<name>/vnc.sock`, mode 0750, libvirt-qemu): only root and
   * that group can reach the display. libvirt ignores a socket path given in the definition, so the
   * path is read from the live XML. Or VNC with autoport on a listen address.
   */
  graphics: { unixSocket: true } | { listen: string };
  /** Serial console output is also logged to this file (readiness reads it). */
  serialLogPath?: string;
  /**
   * When set, the serial console is a unix socket that QEMU listens on (libvirt `mode='bind'`), so the
   * console proxy can connect to it; otherwise a pty (so `virsh console` works).
   */
  serialSocketPath?: string;
  /**
   * Absent or bios: SeaBIOS on `pc`, the XML unchanged. uefi: OVMF chosen by libvirt's firmware
   * auto-selection (`<os firmware='efi'>`, per-VM NVRAM copied from the descriptor's template,
   * removed by undefine with VIR_DOMAIN_UNDEFINE_NVRAM) on `q35`. secureBoot: OVMF's SMM build with
   * Microsoft's keys enrolled (`<loader secure='yes'/>`, `<smm state='on'/>`). Memory floors (not
   * enforced here; flavors are): FIRMWARE_MIN_MEMORY_MIB.
   */
  firmware?: { type: "bios" | "uefi"; secureBoot?: boolean };
  /**
   * A TPM 2.0 emulated by swtpm, one per VM (state under /var/lib/libvirt/swtpm/<uuid>, removed by
   * undefine): tpm-crb on q35, tpm-tis on `pc`.
   */
  tpm?: boolean;
  /** Flavor tuning (tuning-xml.ts): CPU pinning and CFS limits, guest NUMA, huge pages, PCI passthrough. */
  cputune?: CpuTuneSpec;
  numa?: NumaSpec;
  hugepagesKiB?: number;
  hostdevs?: readonly PciHostdev[];
  metadata: VmdeskMetadata;
}

export interface VmdeskMetadata {
  vmId: string;
  ownerId: string;
  installation?: string;
}

export interface ParsedDomain {
  name: string;
  uuid?: string;
  title?: string;
  description?: string;
  /** port is null when libvirt has not assigned one (domain not running: port='-1', or a socket display). */
  vnc?: { port: number | null; listen?: string; socketPath?: string };
  serialLogPath?: string;
  /** The serial console's unix socket (source path of a `type='unix'` serial), when it has one. */
  serialSocketPath?: string;
  /** Present only on domains that carry vmdesk's metadata element. */
  metadata?: VmdeskMetadata;
  disks: Array<{ path?: string; device: string }>;
  /** Network interfaces: `type` as libvirt writes it (user, network, bridge, …). */
  interfaces: Array<{ type: string; network?: string; filter?: string }>;
  /** Present for UEFI only (absent = BIOS, as in DomainSpec); from libvirt's own or our XML. */
  firmware?: { type: "uefi"; secureBoot: boolean };
  /** True when the domain has a `<tpm>` device. */
  tpm?: true;
}

/** Builds the XML of a domain; throws on a spec libvirt would reject or that would be unsafe to embed. */
export function buildDomainXml(spec: DomainSpec): string {
  validate(spec);

  const domain = create({ invalidCharReplacement: "" }).ele("domain", { type: spec.domainType });
  domain.ele("name").txt(x(spec.name));
  domain.ele("uuid").txt(x(spec.uuid.toLowerCase()));
  domain.ele("title").txt(x(spec.title.replace(/\r\n|[\r\n]/g, " ")));
  if (spec.description !== undefined) domain.ele("description").txt(x(spec.description));

  const vm = domain.ele("metadata").ele(VMDESK_METADATA_NS, `${METADATA_PREFIX}:vm`);
  vm.ele(VMDESK_METADATA_NS, `${METADATA_PREFIX}:vm-id`).txt(x(spec.metadata.vmId));
  vm.ele(VMDESK_METADATA_NS, `${METADATA_PREFIX}:owner-id`).txt(x(spec.metadata.ownerId));
  if (spec.metadata.installation !== undefined) {
    vm.ele(VMDESK_METADATA_NS, `${METADATA_PREFIX}:installation`).txt(x(spec.metadata.installation));
  }

  const maxMemoryMiB = Math.max(spec.memoryMiB, spec.maxMemoryMiB ?? 0);
  const maxVcpus = Math.max(spec.vcpus, spec.maxVcpus ?? 0);
  domain.ele("memory", { unit: "MiB" }).txt(String(maxMemoryMiB));
  domain.ele("currentMemory", { unit: "MiB" }).txt(String(spec.memoryMiB));
  domain.ele("vcpu", { placement: "static", ...(maxVcpus > spec.vcpus ? { current: String(spec.vcpus) } : {}) }).txt(String(maxVcpus));
  addCputune(domain, spec.cputune);
  addMemoryBacking(domain, spec.hugepagesKiB);

  const uefi = spec.firmware?.type === "uefi";
  const secureBoot = uefi && spec.firmware?.secureBoot === true;
  // UEFI guests are q35: OVMF's Secure Boot build needs SMM, which only q35 has, and after OVMF on
  // `pc` Linux's ata_piix finds no device on the IDE channels (seen here), so the seed disc vanished.
  const machine = uefi ? "q35" : "pc";
  const os = domain.ele("os", uefi ? { firmware: "efi" } : {});
  os.ele("type", { arch: "x86_64", machine }).txt("hvm");
  if (uefi) {
    // Auto-selection by feature: secure-boot off picks the plain OVMF build (OVMF_CODE_4M.fd); on,
    // the SMM build with Microsoft's keys (OVMF_CODE_4M.ms.fd + OVMF_VARS_4M.ms.fd on Debian 12).
    const firmware = os.ele("firmware");
    firmware.ele("feature", { enabled: secureBoot ? "yes" : "no", name: "secure-boot" });
    firmware.ele("feature", { enabled: secureBoot ? "yes" : "no", name: "enrolled-keys" });
    if (secureBoot) os.ele("loader", { secure: "yes" });
  }
  for (const dev of spec.boot) os.ele("boot", { dev });

  const features = domain.ele("features");
  features.ele("acpi");
  features.ele("apic");
  if (secureBoot) features.ele("smm", { state: "on" });
  if (spec.tcgTbCacheMiB !== undefined) {
    features.ele("tcg").ele("tb-cache", { unit: "MiB" }).txt(String(spec.tcgTbCacheMiB));
  }

  let cpu: XMLBuilder | undefined;
  if (spec.cpuMode === "host-passthrough") cpu = domain.ele("cpu", { mode: "host-passthrough", check: "none", migratable: "on" });
  else if (spec.cpuMode === "host-model") cpu = domain.ele("cpu", { mode: "host-model", check: "partial" });
  // Guest NUMA cells need a <cpu>; with cpuMode "none" one without a mode (QEMU's default model still).
  addNuma(domain, () => (cpu ??= domain.ele("cpu")), spec.numa, maxVcpus, maxMemoryMiB);

  domain.ele("clock", { offset: "utc" });
  domain.ele("on_poweroff").txt("destroy");
  domain.ele("on_reboot").txt("restart");
  domain.ele("on_crash").txt("destroy");

  const devices = domain.ele("devices");
  addDisks(devices, spec.disks, machine);
  if (spec.network?.type === "user") {
    devices.ele("interface", { type: "user" }).ele("model", { type: "virtio" });
  } else if (spec.network?.type === "network") {
    const iface = devices.ele("interface", { type: "network" });
    iface.ele("source", { network: x(spec.network.name) });
    iface.ele("model", { type: "virtio" });
    if (spec.network.filter !== undefined) {
      const ref = iface.ele("filterref", { filter: x(spec.network.filter) });
      for (const [name, value] of Object.entries(spec.network.filterParameters ?? {})) ref.ele("parameter", { name: x(name), value: x(value) });
    }
    addBandwidth(iface, spec.network.bandwidth);
  }

  const serialType = spec.serialSocketPath === undefined ? "pty" : "unix";
  const serial = devices.ele("serial", { type: serialType });
  if (spec.serialSocketPath !== undefined) serial.ele("source", { mode: "bind", path: x(spec.serialSocketPath) });
  if (spec.serialLogPath !== undefined) serial.ele("log", { file: x(spec.serialLogPath), append: "off" });
  serial.ele("target", { port: "0" });
  const consoleEl = devices.ele("console", { type: serialType });
  if (spec.serialSocketPath !== undefined) consoleEl.ele("source", { mode: "bind", path: x(spec.serialSocketPath) });
  consoleEl.ele("target", { type: "serial", port: "0" });

  devices.ele("input", { type: "tablet", bus: "usb" });
  if ("unixSocket" in spec.graphics) {
    devices.ele("graphics", { type: "vnc" }).ele("listen", { type: "socket" });
  } else {
    const graphics = devices.ele("graphics", { type: "vnc", port: "-1", autoport: "yes", listen: x(spec.graphics.listen) });
    graphics.ele("listen", { type: "address", address: x(spec.graphics.listen) });
  }
  devices.ele("video").ele("model", { type: "vga" });
  devices.ele("memballoon", { model: "virtio" });
  devices.ele("rng", { model: "virtio" }).ele("backend", { model: "random" }).txt("/dev/urandom");
  addHostdevs(devices, spec.hostdevs);
  if (spec.tpm === true) {
    // CRB: TPM 2.0's own interface, for q35. TIS: the one QEMU offers on `pc` (SeaBIOS finds it).
    devices.ele("tpm", { model: machine === "q35" ? "tpm-crb" : "tpm-tis" }).ele("backend", { type: "emulator", version: "2.0" });
  }

  return domain.end({ headless: true, prettyPrint: true });
}

function validate(spec: DomainSpec): void {
  if (!DOMAIN_NAME.test(spec.name)) throw new Error(`invalid domain name: ${JSON.stringify(spec.name)}`);
  if (!UUID.test(spec.uuid)) throw new Error(`invalid domain UUID: ${JSON.stringify(spec.uuid)}`);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1) throw new Error(`invalid vcpu count: ${spec.vcpus}`);
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 1) throw new Error(`invalid memory size: ${spec.memoryMiB}`);
  if (spec.maxVcpus !== undefined && (!Number.isInteger(spec.maxVcpus) || spec.maxVcpus < 1)) throw new Error(`invalid vcpu maximum: ${spec.maxVcpus}`);
  if (spec.maxMemoryMiB !== undefined && (!Number.isInteger(spec.maxMemoryMiB) || spec.maxMemoryMiB < 1)) throw new Error(`invalid memory maximum: ${spec.maxMemoryMiB}`);
  if (spec.tcgTbCacheMiB !== undefined) {
    if (spec.domainType !== "qemu") throw new Error("tcgTbCacheMiB applies only to domainType 'qemu'");
    if (!Number.isInteger(spec.tcgTbCacheMiB) || spec.tcgTbCacheMiB < 1) {
      throw new Error(`invalid TCG translation cache size: ${spec.tcgTbCacheMiB}`);
    }
  }
  for (const disk of spec.disks) {
    if (!disk.path.startsWith("/")) throw new Error(`disk path must be absolute: ${JSON.stringify(disk.path)}`);
  }
  if (spec.serialLogPath !== undefined && !spec.serialLogPath.startsWith("/")) {
    throw new Error(`serial log path must be absolute: ${JSON.stringify(spec.serialLogPath)}`);
  }
  if (spec.serialSocketPath !== undefined && !spec.serialSocketPath.startsWith("/")) {
    throw new Error(`serial socket path must be absolute: ${JSON.stringify(spec.serialSocketPath)}`);
  }
  if (spec.firmware?.secureBoot === true && spec.firmware.type !== "uefi") throw new Error("Secure Boot needs UEFI firmware");
  validateTuning(spec, Math.max(spec.vcpus, spec.maxVcpus ?? 0));
  if (spec.network?.type === "network" && spec.network.name === "") throw new Error("network name is empty");
  if (spec.network?.type === "network" && spec.network.filter !== undefined && !/^[A-Za-z0-9_.-]+$/.test(spec.network.filter)) {
    throw new Error(`invalid nwfilter name: ${JSON.stringify(spec.network.filter)}`);
  }
  if (spec.network?.type === "network") {
    for (const name of Object.keys(spec.network.filterParameters ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid nwfilter parameter name: ${JSON.stringify(name)}`);
    }
  }
}

/**
 * Target names per bus in definition order: vda, vdb, … for virtio; sda, sdb, … for SATA and SCSI
 * (one sequence: libvirt derives both from sd*); hda … hdd for IDE.
 */
function addDisks(devices: XMLBuilder, disks: DiskSpec[], machine: "pc" | "q35"): void {
  const used = { vd: 0, sd: 0, hd: 0 };
  const buses = disks.map((disk) => {
    const bus = disk.bus ?? (disk.device === "cdrom" ? "sata" : "virtio");
    return bus === "ide" && machine === "q35" ? "scsi" : bus;
  });
  if (buses.includes("scsi")) devices.ele("controller", { type: "scsi", index: "0", model: "virtio-scsi" });
  for (const [i, disk] of disks.entries()) {
    const bus = buses[i]!;
    const prefix = ({ virtio: "vd", sata: "sd", scsi: "sd", ide: "hd" } as const)[bus];
    const index = used[prefix]++;
    if (index >= (bus === "ide" ? 4 : 26)) throw new Error(`too many disks on bus ${bus}`);
    const dev = prefix + String.fromCharCode(97 + index);
    const el = devices.ele("disk", { type: "file", device: disk.device });
    el.ele("driver", { name: "qemu", type: disk.format, ...(disk.cache ? { cache: disk.cache } : {}) });
    el.ele("source", { file: x(disk.path) });
    el.ele("target", { dev, bus });
    if (disk.device === "cdrom") el.ele("readonly");
    addIotune(el, disk.iotune);
  }
}

type XmlNode = Record<string, unknown>;

const ALWAYS_ARRAYS = new Set(["disk", "graphics", "serial", "listen", "interface"]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  // Numeric character references (libxml2 writes e.g. "&#13;"); "&amp;" is decoded last, so "&amp;lt;" stays "&lt;".
  htmlEntities: true,
  isArray: (tagName) => ALWAYS_ARRAYS.has(tagName),
});

/**
 * Reads the parts of a domain's XML that vmdesk needs. Accepts both our own output and libvirt's
 * (persistent or live) XML; unknown elements are ignored.
 */
export function parseDomainXml(xml: string): ParsedDomain {
  const doc = parser.parse(xml) as XmlNode;
  const domain = asNode(doc.domain);
  if (!domain) throw new Error("not a domain XML document: no <domain> root");
  const name = text(domain.name);
  if (name === undefined) throw new Error("domain XML has no <name>");

  const result: ParsedDomain = { name, disks: [], interfaces: [] };
  const uuid = text(domain.uuid);
  if (uuid !== undefined) result.uuid = uuid.trim();
  const title = text(domain.title);
  if (title !== undefined) result.title = title;
  const description = text(domain.description);
  if (description !== undefined) result.description = description;

  const metadata = parseMetadata(asNode(domain.metadata));
  if (metadata) result.metadata = metadata;

  const firmware = parseFirmware(asNode(domain.os));
  if (firmware) result.firmware = firmware;

  const devices = asNode(domain.devices);
  if (devices) {
    if (devices.tpm !== undefined) result.tpm = true;
    for (const disk of nodes(devices.disk)) {
      const source = asNode(disk.source);
      const path = attr(source, "file") ?? attr(source, "dev");
      result.disks.push(path === undefined ? { device: attr(disk, "device") ?? "disk" } : { path, device: attr(disk, "device") ?? "disk" });
    }
    for (const iface of nodes(devices.interface)) {
      const parsed: ParsedDomain["interfaces"][number] = { type: attr(iface, "type") ?? "" };
      const network = attr(asNode(iface.source), "network");
      if (network !== undefined) parsed.network = network;
      const filter = attr(asNode(iface.filterref), "filter");
      if (filter !== undefined) parsed.filter = filter;
      result.interfaces.push(parsed);
    }
    const vnc = nodes(devices.graphics).find((g) => attr(g, "type") === "vnc");
    if (vnc) {
      const port = Number(attr(vnc, "port"));
      const listen = attr(vnc, "listen") ?? nodes(vnc.listen).map((l) => attr(l, "address")).find((a) => a !== undefined);
      const socket = attr(vnc, "socket") ?? nodes(vnc.listen).filter((l) => attr(l, "type") === "socket").map((l) => attr(l, "socket")).find((p) => p !== undefined);
      result.vnc = { port: Number.isInteger(port) && port > 0 ? port : null };
      if (listen !== undefined) result.vnc.listen = listen;
      if (socket !== undefined) result.vnc.socketPath = socket;
    }
    const logFile = nodes(devices.serial).map((s) => attr(asNode(s.log), "file")).find((f) => f !== undefined);
    if (logFile !== undefined) result.serialLogPath = logFile;
    const socket = nodes(devices.serial)
      .filter((s) => attr(s, "type") === "unix")
      .map((s) => attr(asNode(s.source), "path"))
      .find((p) => p !== undefined);
    if (socket !== undefined) result.serialSocketPath = socket;
  }
  return result;
}

/**
 * UEFI when the definition asks for it (`firmware='efi'`) or libvirt has resolved it to a pflash
 * loader (live XML); Secure Boot when the loader is secure or the secure-boot feature is requested.
 */
function parseFirmware(os: XmlNode | undefined): ParsedDomain["firmware"] {
  if (!os) return undefined;
  const loader = asNode(os.loader);
  if (attr(os, "firmware") !== "efi" && attr(loader, "type") !== "pflash") return undefined;
  const features = nodes(asNode(os.firmware)?.feature);
  const secureFeature = features.find((f) => attr(f, "name") === "secure-boot");
  const secureBoot = attr(loader, "secure") === "yes" || attr(secureFeature, "enabled") === "yes";
  return { type: "uefi", secureBoot };
}

/** Finds our element by namespace URI, whatever prefix the document uses for it. */
function parseMetadata(metadata: XmlNode | undefined): VmdeskMetadata | undefined {
  if (!metadata) return undefined;
  for (const [tag, value] of Object.entries(metadata)) {
    const el = asNode(Array.isArray(value) ? value[0] : value);
    if (!el) continue;
    const colon = tag.indexOf(":");
    const prefix = colon >= 0 ? tag.slice(0, colon) : "";
    const local = colon >= 0 ? tag.slice(colon + 1) : tag;
    const nsAttr = prefix ? `@_xmlns:${prefix}` : "@_xmlns";
    if (local !== "vm" || el[nsAttr] !== VMDESK_METADATA_NS) continue;
    const child = (n: string) => text(el[prefix ? `${prefix}:${n}` : n]);
    const vmId = child("vm-id");
    const ownerId = child("owner-id");
    if (vmId === undefined || ownerId === undefined) return undefined;
    const installation = child("installation");
    return installation === undefined ? { vmId, ownerId } : { vmId, ownerId, installation };
  }
  return undefined;
}

function asNode(value: unknown): XmlNode | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as XmlNode) : undefined;
}

function nodes(value: unknown): XmlNode[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((v) => asNode(v) ?? {});
}

function attr(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[`@_${name}`];
  return typeof value === "string" ? value : undefined;
}

/** Text content of a leaf element: "" for an empty element, undefined when absent. */
function text(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  const node = asNode(value);
  if (!node) return undefined;
  const t = node["#text"];
  return typeof t === "string" ? t : "";
}
