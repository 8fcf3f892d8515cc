/**
 * Consoles of a VM on another host, in chromium: a lab host (scripts/lab: its own libvirtd in its own
 * network namespace, reached over qemu+tls) runs the guest; the portal is the only host left enabled.
 * The graphical console reaches the guest's display over VeNCrypt/TLS with the portal's client
 * certificate (nothing else may connect to it: a plain VNC client is refused by the host's QEMU), the
 * serial console goes through libvirt's console stream, and "ready" is seen on that stream too.
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { config } from "../../server/config.ts";
import { db, disconnectDb } from "../../server/db/client.ts";
import { createUser, setQuota } from "../../server/services/user-service.ts";
import { labDown, labPaths, labUp, type LabHost, type LabPaths } from "../../scripts/lab/lab-hosts.ts";
import { registerLabHosts } from "../../scripts/lab/register.ts";
import { canvasStats, launchChromium, screenshot, signIn, typeKeys } from "../support/browser.ts";
import { demoImageDir, seedDatabase, serviceAs, waitFor } from "../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../support/server.ts";

let portal: RunningPortal;
let browser: Browser;
let paths: LabPaths;
let lab1: LabHost;
let vm: { id: string; domainName: string };
let api: ReturnType<typeof restClient>;

const TENANT = { username: "remy", password: "remy-password-1" };

beforeAll(async () => {
  const { url, admin } = await seedDatabase("vmdesk_e2e_remote_console");
  const cfg = config();
  paths = labPaths(cfg.dataDir, cfg.hostCredentialsDir);
  lab1 = (await labUp(paths, 1))[0]!;
  const [row] = await registerLabHosts(db(), [lab1], cfg.hostCredentialsDir);
  await db().host.updateMany({ where: { name: { not: lab1.name } }, data: { enabled: false } });
  mkdirSync(paths.shared, { recursive: true });
  const file = path.join(paths.shared, "vmdesk-demo.qcow2");
  copyFileSync(path.join(demoImageDir, "vmdesk-demo.qcow2"), file);
  const image = await db().image.create({ data: { name: "lab demo (shared)", path: file, format: "qcow2", minDiskGiB: 1, shared: true, hostId: row!.id } });
  const svc = serviceAs(admin);
  const tenant = await createUser(svc, { ...TENANT, role: "tenant" });
  await setQuota(svc, tenant.id, { vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
  await disconnectDb();
  portal = await startPortalServer(url);
  // The portal's monitor measures lab1 (read back through a fresh client).
  browser = await launchChromium();

  const tok = await restClient(portal.baseUrl)("POST", "/auth/token", TENANT);
  api = restClient(portal.baseUrl, tok.body.token);
  await waitFor("lab1 measured and up", async () => (await db().host.findUniqueOrThrow({ where: { id: row!.id } })).cpus !== null, 60_000, 500);
  const created = await api("POST", "/vms", { name: "remote vm", imageId: image.id, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
  expect(created.status).toBe(202);
  expect(created.body.vm.host.name).toBe("lab1");
  vm = { id: created.body.vm.id, domainName: created.body.vm.domainName };
  // guestReadyAt on a remote host comes from the console stream (the serial log is on that host).
  await waitFor("the guest running and ready on lab1", async () => {
    const r = await api("GET", `/vms/${vm.id}`);
    return r.body?.state === "running" && r.body.guestReadyAt;
  }, 150_000, 500);
  await new Promise((r) => setTimeout(r, 4_000));
}, 300_000);

afterAll(async () => {
  await browser?.close();
  if (vm && api) {
    await api("DELETE", `/vms/${vm.id}`);
    await waitFor("the VM deleted", async () => (await api("GET", `/vms/${vm.id}`)).status === 404, 60_000, 500).catch(() => undefined);
  }
  await portal?.stop();
  if (paths) labDown(paths);
}, 180_000);

/** The guest's serial output as the lab host's virtlogd writes it. */
function serialLog(): string {
  try {
    return readFileSync(path.join(lab1.dir, "log", "qemu", `${vm.domainName}-serial.log`), "utf8");
  } catch {
    return "";
  }
}

/** The display's TCP port on lab1, from the live domain XML the portal reads too. */
async function displayPort(): Promise<number> {
  const { execFileSync } = await import("node:child_process");
  const xml = execFileSync("virsh", ["-c", lab1.uri, "dumpxml", vm.domainName], { encoding: "utf8", timeout: 10_000 });
  return Number(/<graphics type='vnc' port='(\d+)'/.exec(xml)?.[1]);
}

describe("consoles of a VM on a lab host", () => {
  it("the display on the host takes no viewer without the portal's certificate", async () => {
    const port = await displayPort();
    expect(port).toBeGreaterThanOrEqual(5900);
    // A plain VNC client: QEMU offers only VeNCrypt (19), so without TLS and a certificate it gets nothing.
    const greeting = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect({ host: lab1.address, port });
      let got = Buffer.alloc(0);
      s.on("data", (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length === 12) s.write("RFB 003.008\n");
        if (got.length >= 14) {
          s.destroy();
          resolve(got);
        }
      });
      s.on("error", reject);
      setTimeout(() => {
        s.destroy();
        resolve(got);
      }, 5_000);
    });
    expect(greeting.subarray(0, 12).toString("latin1")).toBe("RFB 003.008\n");
    expect([...greeting.subarray(12, 12 + 1 + greeting[12]!)].slice(1)).toEqual([19]);
  });

  it("the graphical console shows the guest's screen and keys typed reach the guest", async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await signIn(page, portal.baseUrl, TENANT.username, TENANT.password);
    await page.goto(`${portal.baseUrl}/vms/${vm.id}/console`);
    await page.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
    await expect
      .poll(() => canvasStats(page), { timeout: 30_000, interval: 500 })
      .toSatisfy((s: { width: number; colors: number; lit: number }) => s.width > 0 && s.colors >= 2 && s.lit >= 200);
    const marker = `remote-${randomBytes(4).toString("hex")}`;
    await page.getByTestId("console-canvas-container").locator("canvas").click();
    await page.keyboard.press("Enter");
    await page.waitForTimeout(500);
    await typeKeys(page, `echo ${marker} > /dev/ttyS0`);
    await page.keyboard.press("Enter");
    await expect.poll(serialLog, { timeout: 20_000, interval: 250 }).toContain(marker);
    await screenshot(page, "remote-console");
    await page.close();
  });

  it("the serial console page shows the guest's shell in xterm", async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await signIn(page, portal.baseUrl, TENANT.username, TENANT.password);
    await page.goto(`${portal.baseUrl}/vms/${vm.id}/serial`);
    await page.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
    const rows = page.locator('[data-testid="serial-terminal"] .xterm-rows');
    await page.getByTestId("serial-terminal").click();
    await page.keyboard.press("Enter");
    await expect.poll(() => rows.innerText(), { timeout: 15_000 }).toMatch(/[#$] ?\s*$/m);
    const marker = `serial-${randomBytes(4).toString("hex")}`;
    await page.keyboard.type(`echo ${marker}`);
    await page.keyboard.press("Enter");
    await expect.poll(async () => (await rows.innerText()).split(marker).length - 1, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await screenshot(page, "remote-serial-console");
    await page.close();
  });
});
