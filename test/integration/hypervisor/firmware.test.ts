/**
 * Firmware by effect on the real qemu:///system, through the native driver: the demo guest (built by
 * scripts/build-demo-image.sh) reports on its serial console how it booted
 * ("vmdesk-firmware efi=… secureboot=… tpm=…").
 * - UEFI (OVMF) with a vTPM: efi=1 tpm=1, the cloud-init seed (an "ide" disc, a virtio-scsi CD-ROM on
 *   q35) still read; undefine removes the NVRAM and the swtpm state. The ISO boots under OVMF too.
 * - SeaBIOS with a vTPM (tpm-tis): efi=0 tpm=1.
 * - Secure Boot with Microsoft's keys: the signed chain (shim → grub → kernel) boots with
 *   secureboot=1 and the kernel locks itself down; the same disk with the unsigned build of shim is
 *   refused by the firmware and never reaches Linux.
 *
 * Env: VMDESK_DEMO_IMAGE_DIR  use images already built there instead of building into a temp dir.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtHostConnection } from "../../../server/hypervisor/libvirt/libvirt-host.ts";
import { buildDomainXml, FIRMWARE_MIN_MEMORY_MIB, parseDomainXml, type DomainSpec } from "../../../server/hypervisor/xml/index.ts";

const run = promisify(execFile);
const URI = "qemu:///system";
const READY_MARKER = "vmdesk-demo-ready";
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** QEMU runs as libvirt-qemu: images and logs live where it can traverse, not in a 0700 /tmp dir. */
const TEST_ROOT = "/var/lib/vmdesk-test";
const NVRAM_DIR = "/var/lib/libvirt/qemu/nvram";
const SWTPM_DIR = "/var/lib/libvirt/swtpm";
/** The unsigned build of the very shim the image carries (Debian's shim-unsigned, a dependency of shim-signed). */
const UNSIGNED_SHIM = "/usr/lib/shim/shimx64.efi";
/** OVMF under TCG on two shared cores: 20–25 s alone, above 3 min for the SMM build under heavy load. */
const UEFI_BOOT_MS = 300_000;

const suffix = randomBytes(4).toString("hex");
let host: LibvirtHostConnection;
let workDir = "";
let imageDir = "";
const defined: DomainSpec[] = [];

async function readIfExists(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return "";
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** A linked clone of `backing` (qcow2 or raw) in the work directory. */
async function overlay(name: string, backing: string, format: "qcow2" | "raw"): Promise<string> {
  const file = path.join(workDir, `${name}.qcow2`);
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-F", format, "-b", backing, file]);
  return file;
}

function spec(name: string, disk: string, overrides: Partial<DomainSpec>): DomainSpec {
  return {
    name,
    uuid: randomUUID(),
    title: `firmware test ${name}`,
    vcpus: 1,
    memoryMiB: 128,
    domainType: "qemu",
    cpuMode: "none",
    tcgTbCacheMiB: 32,
    disks: [{ path: disk, format: "qcow2", device: "disk", bus: "virtio" }],
    boot: ["hd"],
    network: null,
    graphics: { listen: "127.0.0.1" },
    serialLogPath: path.join(workDir, `${name}.serial.log`),
    metadata: { vmId: name, ownerId: "integration-test" },
    ...overrides,
  };
}

async function defineAndStart(s: DomainSpec): Promise<void> {
  defined.push(s);
  await host.defineDomain(buildDomainXml(s));
  await host.startDomain(s.name);
}

/** Resolves with the serial log once the readiness marker is in it. */
async function bootToMarker(s: DomainSpec, timeoutMs: number): Promise<string> {
  const started = Date.now();
  const log = await waitFor(`${READY_MARKER} on ${s.name}'s serial console`, timeoutMs, async () => {
    const text = await readIfExists(s.serialLogPath!);
    return text.includes(READY_MARKER) ? text : undefined;
  }).catch(async (error: Error) => {
    // eslint-disable-next-line no-control-regex
    const tail = (await readIfExists(s.serialLogPath!)).replace(/\x1b\[[0-9;=?]*[A-Za-z]/g, "").slice(-1500);
    throw new Error(`${error.message}; serial log ends with:\n${tail}`);
  });
  console.info(`[firmware] ${s.name}: ${READY_MARKER} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return log;
}

function firmwareLine(log: string): string | undefined {
  return /vmdesk-firmware efi=\d secureboot=\d tpm=\d/.exec(log)?.[0];
}

/** Stops and undefines through the driver (VIR_DOMAIN_UNDEFINE_NVRAM; libvirt drops swtpm state too). */
async function remove(s: DomainSpec): Promise<void> {
  await host.destroyDomain(s.name);
  await host.undefineDomain(s.name);
}

beforeAll(async () => {
  await mkdir(TEST_ROOT, { recursive: true, mode: 0o755 });
  workDir = await mkdtemp(path.join(TEST_ROOT, "firmware-"));
  await chmod(workDir, 0o755);
  imageDir = process.env.VMDESK_DEMO_IMAGE_DIR ?? path.join(workDir, "image");
  if (!process.env.VMDESK_DEMO_IMAGE_DIR) {
    await run("bash", [path.join(REPO, "scripts/build-demo-image.sh"), imageDir], { timeout: 120_000 });
    await chmod(imageDir, 0o755);
  }
  host = new LibvirtHostConnection({ uri: URI, callTimeoutMs: 60_000 });
  await host.listDomains();
}, 180_000);

afterAll(async () => {
  for (const s of defined) {
    await host.destroyDomain(s.name).catch(() => undefined);
    await host.undefineDomain(s.name).catch(() => undefined);
    await rm(path.join(NVRAM_DIR, `${s.name}_VARS.fd`), { force: true });
    await rm(path.join(SWTPM_DIR, s.uuid), { recursive: true, force: true });
  }
  await host?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 120_000);

describe("UEFI, Secure Boot and vTPM on qemu:///system", () => {
  it("boots the demo qcow2 under OVMF with a vTPM, reads its seed disc, and undefine removes NVRAM and TPM state", async () => {
    const name = `vmdesk-it-uefi-${suffix}`;
    const seedDir = path.join(workDir, "seed");
    await mkdir(seedDir);
    await writeFile(path.join(seedDir, "meta-data"), `instance-id: ${name}\nlocal-hostname: fw-${suffix}\n`);
    await writeFile(path.join(seedDir, "user-data"), "#cloud-config\n");
    const seed = path.join(workDir, "seed.iso");
    await run("xorriso", ["-as", "mkisofs", "-quiet", "-o", seed, "-V", "cidata", "-J", "-r", seedDir]);
    await chmod(seed, 0o644);

    const s = spec(name, await overlay(name, path.join(imageDir, "vmdesk-demo.qcow2"), "qcow2"), {
      memoryMiB: FIRMWARE_MIN_MEMORY_MIB.uefi,
      firmware: { type: "uefi" },
      tpm: true,
      // As vm-layout attaches the cloud-init seed: IDE, which q35 turns into virtio-scsi.
      disks: [
        { path: path.join(workDir, `${name}.qcow2`), format: "qcow2", device: "disk", bus: "virtio" },
        { path: seed, format: "raw", device: "cdrom", bus: "ide" },
      ],
    });
    await defineAndStart(s);

    const live = await host.domainXml(s.name);
    const parsed = parseDomainXml(live);
    expect(parsed.firmware).toEqual({ type: "uefi", secureBoot: false });
    expect(parsed.tpm).toBe(true);
    expect(live).toMatch(/machine='pc-q35-/);
    expect(live).toMatch(/<loader readonly='yes' type='pflash'>\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd<\/loader>/);
    expect(live).toMatch(/<tpm model='tpm-crb'>/);
    const nvram = path.join(NVRAM_DIR, `${s.name}_VARS.fd`);
    expect(existsSync(nvram)).toBe(true);
    expect(existsSync(path.join(SWTPM_DIR, s.uuid))).toBe(true);

    const log = await bootToMarker(s, UEFI_BOOT_MS);
    expect(firmwareLine(log)).toBe("vmdesk-firmware efi=1 secureboot=0 tpm=1");
    expect(log).toContain(`vmdesk-cloudinit hostname=fw-${suffix}`);

    await remove(s);
    expect(existsSync(nvram)).toBe(false);
    expect(existsSync(path.join(SWTPM_DIR, s.uuid))).toBe(false);
  }, UEFI_BOOT_MS + 60_000);

  it("boots the demo ISO from a SATA CD-ROM under OVMF (El Torito EFI image)", async () => {
    const name = `vmdesk-it-uefi-iso-${suffix}`;
    const s = spec(name, path.join(imageDir, "vmdesk-demo.iso"), {
      memoryMiB: FIRMWARE_MIN_MEMORY_MIB.uefi,
      firmware: { type: "uefi" },
      disks: [{ path: path.join(imageDir, "vmdesk-demo.iso"), format: "raw", device: "cdrom" }],
      boot: ["cdrom"],
    });
    await defineAndStart(s);
    const log = await bootToMarker(s, UEFI_BOOT_MS);
    expect(firmwareLine(log)).toBe("vmdesk-firmware efi=1 secureboot=0 tpm=0");
    await remove(s);
  }, UEFI_BOOT_MS + 60_000);

  it("still boots SeaBIOS, now with a TPM: efi=0 tpm=1", async () => {
    const name = `vmdesk-it-bios-${suffix}`;
    const s = spec(name, await overlay(name, path.join(imageDir, "vmdesk-demo.qcow2"), "qcow2"), { tpm: true });
    await defineAndStart(s);
    const parsed = parseDomainXml(await host.domainXml(s.name));
    expect(parsed.firmware).toBeUndefined();
    expect(parsed.tpm).toBe(true);
    const log = await bootToMarker(s, 100_000);
    expect(firmwareLine(log)).toBe("vmdesk-firmware efi=0 secureboot=0 tpm=1");
    await remove(s);
    expect(existsSync(path.join(SWTPM_DIR, s.uuid))).toBe(false);
  }, 150_000);

  it("Secure Boot with Microsoft's keys: the signed chain boots with secureboot=1, an unsigned loader is refused", async () => {
    // The same disk with the unsigned build of shim as EFI/BOOT/BOOTX64.EFI.
    expect(existsSync(UNSIGNED_SHIM)).toBe(true);
    const unsignedRaw = path.join(workDir, "unsigned.raw");
    await run("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", path.join(imageDir, "vmdesk-demo.qcow2"), unsignedRaw]);
    await run("mcopy", ["-o", "-i", unsignedRaw, UNSIGNED_SHIM, "::/EFI/BOOT/BOOTX64.EFI"]);
    await chmod(unsignedRaw, 0o644);

    const secure = { memoryMiB: FIRMWARE_MIN_MEMORY_MIB.secureBoot, firmware: { type: "uefi" as const, secureBoot: true } };
    const signedName = `vmdesk-it-sb-${suffix}`;
    const signed = spec(signedName, await overlay(signedName, path.join(imageDir, "vmdesk-demo.qcow2"), "qcow2"), { ...secure, tpm: true });
    const unsignedName = `vmdesk-it-sbx-${suffix}`;
    const unsigned = spec(unsignedName, await overlay(unsignedName, unsignedRaw, "raw"), secure);
    await defineAndStart(signed);
    await defineAndStart(unsigned);

    for (const s of [signed, unsigned]) {
      const live = await host.domainXml(s.name);
      expect(parseDomainXml(live).firmware).toEqual({ type: "uefi", secureBoot: true });
      expect(live).toMatch(/<loader readonly='yes' secure='yes' type='pflash'>\/usr\/share\/OVMF\/OVMF_CODE_4M\.ms\.fd<\/loader>/);
      expect(live).toMatch(/<nvram template='\/usr\/share\/OVMF\/OVMF_VARS_4M\.ms\.fd'>/);
      expect(live).toMatch(/<smm state='on'\/>/);
    }

    // OVMF's boot manager reports the refusal on the serial console, then finds nothing else to boot.
    const refused = await waitFor(`OVMF to refuse ${unsignedName}'s unsigned loader`, UEFI_BOOT_MS, async () => {
      const text = await readIfExists(unsigned.serialLogPath!);
      return /BdsDxe: failed to load Boot\d+ .*: Access Denied/.test(text) ? text : undefined;
    });
    expect(refused).not.toContain("Welcome to GRUB");

    const log = await bootToMarker(signed, UEFI_BOOT_MS);
    expect(log).toContain("EFI stub: UEFI Secure Boot is enabled.");
    expect(log).toContain("Kernel is locked down from EFI Secure Boot");
    expect(firmwareLine(log)).toBe("vmdesk-firmware efi=1 secureboot=1 tpm=1");

    // By now the refused guest has had the signed guest's whole boot to get further: it did not.
    const after = await readIfExists(unsigned.serialLogPath!);
    expect(after).not.toContain("Linux version");
    expect(after).not.toContain(READY_MARKER);

    for (const s of [signed, unsigned]) {
      await remove(s);
      expect(existsSync(path.join(NVRAM_DIR, `${s.name}_VARS.fd`))).toBe(false);
    }
  }, 2 * UEFI_BOOT_MS + 60_000);
});
