/**
 * Boots the demo guest built by scripts/build-demo-image.sh on the real qemu:///system with XML from
 * buildDomainXml, through virsh only (independent of the native driver): the qcow2 template as a
 * linked clone and the ISO as a CD-ROM must both print the readiness marker on the serial port, and
 * an ACPI shutdown request must power the guest off (acpid inside the guest works).
 *
 * Env: VMDESK_DEMO_IMAGE_DIR  use images already built there instead of building into a temp dir.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDomainXml, parseDomainXml, type DomainSpec } from "../../../server/hypervisor/xml/index.ts";

const run = promisify(execFile);
const URI = "qemu:///system";
const READY_MARKER = "vmdesk-demo-ready";
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** QEMU runs as libvirt-qemu: images and logs live where it can traverse, not in a 0700 /tmp dir. */
const TEST_ROOT = "/var/lib/vmdesk-test";

let workDir = "";
let imageDir = "";
const defined: string[] = [];

async function virsh(...args: string[]): Promise<string> {
  const { stdout } = await run("virsh", ["-c", URI, ...args], { timeout: 30_000 });
  return stdout;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function readIfExists(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return "";
  }
}

function demoSpec(name: string, overrides: Partial<DomainSpec>): DomainSpec {
  return {
    name,
    uuid: randomUUID(),
    title: `demo boot test ${name}`,
    vcpus: 1,
    memoryMiB: 128,
    domainType: "qemu",
    cpuMode: "none",
    tcgTbCacheMiB: 32,
    disks: [],
    boot: ["hd"],
    network: { type: "user" },
    graphics: { listen: "127.0.0.1" },
    serialLogPath: path.join(workDir, `${name}.serial.log`),
    metadata: { vmId: name, ownerId: "integration-test" },
    ...overrides,
  };
}

async function define(spec: DomainSpec): Promise<void> {
  const xmlFile = path.join(workDir, `${spec.name}.xml`);
  await writeFile(xmlFile, buildDomainXml(spec));
  await virsh("define", xmlFile);
  defined.push(spec.name);
}

/** Starts the domain and resolves with the seconds until the marker appeared on the serial log. */
async function bootToMarker(spec: DomainSpec): Promise<number> {
  const started = Date.now();
  await virsh("start", spec.name);
  await waitFor(`${READY_MARKER} on ${spec.name}'s serial console`, 60_000, async () =>
    (await readIfExists(spec.serialLogPath!)).includes(READY_MARKER) ? true : undefined,
  );
  return (Date.now() - started) / 1000;
}

async function domState(name: string): Promise<string> {
  return (await virsh("domstate", name)).trim();
}

beforeAll(async () => {
  await mkdir(TEST_ROOT, { recursive: true, mode: 0o755 });
  workDir = await mkdtemp(path.join(TEST_ROOT, "demo-boot-"));
  await chmod(workDir, 0o755);
  imageDir = process.env.VMDESK_DEMO_IMAGE_DIR ?? path.join(workDir, "image");
  if (!process.env.VMDESK_DEMO_IMAGE_DIR) {
    await run("bash", [path.join(REPO, "scripts/build-demo-image.sh"), imageDir], { timeout: 120_000 });
    await chmod(imageDir, 0o755);
  }
}, 180_000);

afterAll(async () => {
  for (const name of defined) {
    await virsh("destroy", name).catch(() => undefined);
    await virsh("undefine", name).catch(() => undefined);
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe("demo image on qemu:///system", () => {
  it("boots a linked clone of the qcow2 template and powers off on an ACPI request", async () => {
    const name = `vmdesk-it-qcow2-${process.pid}`;
    const overlay = path.join(workDir, `${name}.qcow2`);
    await run("qemu-img", [
      "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", path.join(imageDir, "vmdesk-demo.qcow2"), overlay,
    ]);
    const spec = demoSpec(name, { disks: [{ path: overlay, format: "qcow2", device: "disk" }], boot: ["hd"] });
    await define(spec);

    const bootSeconds = await bootToMarker(spec);
    console.info(`[demo-image-boot] qcow2 clone: ${READY_MARKER} after ${bootSeconds.toFixed(1)} s`);
    expect(await domState(name)).toBe("running");

    const live = parseDomainXml(await virsh("dumpxml", name));
    expect(live.vnc?.port).toBeGreaterThanOrEqual(5900);
    expect(live.vnc?.listen).toBe("127.0.0.1");
    expect(live.metadata).toEqual(spec.metadata);
    expect(live.serialLogPath).toBe(spec.serialLogPath);

    const shutdownStarted = Date.now();
    await virsh("shutdown", name);
    await waitFor(`${name} to shut off after an ACPI request`, 30_000, async () =>
      (await domState(name)) === "shut off" ? true : undefined,
    );
    console.info(`[demo-image-boot] ACPI shutdown took ${((Date.now() - shutdownStarted) / 1000).toFixed(1)} s`);
    expect(parseDomainXml(await virsh("dumpxml", name)).vnc?.port).toBeNull();
  }, 120_000);

  it("boots the ISO from a CD-ROM", async () => {
    const name = `vmdesk-it-iso-${process.pid}`;
    const spec = demoSpec(name, {
      disks: [{ path: path.join(imageDir, "vmdesk-demo.iso"), format: "raw", device: "cdrom" }],
      boot: ["cdrom"],
      network: null,
    });
    await define(spec);
    const bootSeconds = await bootToMarker(spec);
    console.info(`[demo-image-boot] ISO: ${READY_MARKER} after ${bootSeconds.toFixed(1)} s`);
    await virsh("destroy", name);
  }, 120_000);

  it("has libvirt store and return hostile user text unchanged", async () => {
    const name = `vmdesk-it-text-${process.pid}`;
    const title = `</title><devices><disk type='file'/></devices> &amp; &foo; ]]> "q" 'a' Ünïcødé 🚀`;
    const description = `line 1 <script>alert(1)</script>\n  line 2 & &lt; ]]>`;
    const spec = demoSpec(name, { title, description, disks: [], network: null });
    await define(spec);
    const parsed = parseDomainXml(await virsh("dumpxml", name));
    expect(parsed.title).toBe(title);
    expect(parsed.description).toBe(description);
    expect(parsed.disks).toEqual([]);
    expect(parsed.uuid).toBe(spec.uuid);
  });
});
