/**
 * Consoles of a VM on another host, in chromium: a lab host (scripts/lab: its own libvirtd in its own
 * network namespace, reached over qemu+tls) runs the guest; the portal is the only host left enabled.
 * The graphical console reaches the guest's display over VeNCrypt/TLS with the portal's client
 * certificate (nothing else may connect to it: a plain VNC client is refused by the host's QEMU), the
 * serial console goes through libvirt's console stream, and "ready" is seen on that stream too. When
 * the VM is live-migrated to a second lab host, the open consoles find it there by themselves.
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { config } from "../../server/config.ts";
import { db, disconnectDb } from "../../server/db/client.ts";
import { migrateVm } from "../../server/services/migration-service.ts";
import { createUser, setQuota } from "../../server/services/user-service.ts";
import { labDown, labPaths, labUp, type LabHost, type LabPaths } from "../../scripts/lab/lab-hosts.ts";
import { registerLabHosts } from "../../scripts/lab/register.ts";
import { canvasStats, expectSerialRoundTrip, launchChromium, screenshot, signIn, typeKeys } from "../support/browser.ts";
import { demoImageDir, seedDatabase, serviceAs, waitFor } from "../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../support/server.ts";

let portal: RunningPortal;
let browser: Browser;
let paths: LabPaths;
let lab1: LabHost;
let lab2: LabHost;
let lab2Id = "";
let adminUser: Parameters<typeof serviceAs>[0];
let vm: { id: string; domainName: string };
let api: ReturnType<typeof restClient>;

const TENANT = { username: "remy", password: "remy-password-1" };

beforeAll(async () => {
  const { url, admin } = await seedDatabase("vmdesk_e2e_remote_console");
  const cfg = config();
  paths = labPaths(cfg.dataDir, cfg.hostCredentialsDir);
  [lab1, lab2] = (await labUp(paths, 2)) as [LabHost, LabHost];
  const [row, row2] = await registerLabHosts(db(), [lab1, lab2], cfg.hostCredentialsDir);
  lab2Id = row2!.id;
  adminUser = admin;
  // lab2 joins for the migration at the end; until then the VM can only go to lab1.
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
function serialLog(host: LabHost = lab1): string {
  try {
    return readFileSync(path.join(host.dir, "log", "qemu", `${vm.domainName}-serial.log`), "utf8");
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
      .poll(() => canvasStats(page.getByTestId("console-canvas-container")), { timeout: 30_000, interval: 500 })
      .toSatisfy((s: { width: number; colors: number; lit: number }) => s.width > 0 && s.colors >= 2 && s.lit >= 200);
    const marker = `remote-${randomBytes(4).toString("hex")}`;
    await page.getByTestId("console-canvas-container").locator("canvas").click();
    await page.keyboard.press("Enter");
    await page.waitForTimeout(500);
    await typeKeys(page, `echo ${marker} > /dev/ttyS0`);
    await page.keyboard.press("Enter");
    await expect.poll(() => serialLog(), { timeout: 20_000, interval: 250 }).toContain(marker);
    await screenshot(page, "remote-console");
    await page.close();
  });

  it("the serial console page shows the guest's shell in xterm", async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await signIn(page, portal.baseUrl, TENANT.username, TENANT.password);
    await expectSerialRoundTrip(page, portal.baseUrl, vm.id);
    await screenshot(page, "remote-serial-console");
    await page.close();
  });
  it("open consoles follow the VM to another host when it is live-migrated", { timeout: 240_000 }, async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const vnc = await context.newPage();
    await signIn(vnc, portal.baseUrl, TENANT.username, TENANT.password);
    await vnc.goto(`${portal.baseUrl}/vms/${vm.id}/console`);
    await vnc.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
    const serial = await context.newPage();
    await serial.goto(`${portal.baseUrl}/vms/${vm.id}/serial`);
    await serial.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });

    await db().host.update({ where: { id: lab2Id }, data: { enabled: true } });
    await waitFor("lab2 measured and up", async () => (await db().host.findUniqueOrThrow({ where: { id: lab2Id } })).cpus !== null, 60_000, 500);
    const { operation } = await migrateVm(serviceAs(adminUser), vm.id, { hostId: lab2Id });
    await waitFor("the migration finished", async () => {
      const op = await db().operation.findUniqueOrThrow({ where: { id: operation.id } });
      if (op.status === "failed") throw new Error(`migration failed: ${op.error}`);
      return op.status === "succeeded" ? op : null;
    }, 120_000, 500);
    expect((await api("GET", `/vms/${vm.id}`)).body.host.name).toBe("lab2");

    // Nobody pressed anything: both pages reconnect (to lab2 now) and keys reach the moved guest.
    const marker = `moved-${randomBytes(4).toString("hex")}`;
    await expect
      .poll(async () => {
        if ((await vnc.getByTestId("console-status").getAttribute("data-status")) !== "connected") return "";
        await vnc.getByTestId("console-canvas-container").locator("canvas").click();
        await typeKeys(vnc, `echo ${marker} > /dev/ttyS0`);
        await vnc.keyboard.press("Enter");
        await vnc.waitForTimeout(2_000);
        return serialLog(lab2);
      }, { timeout: 90_000, interval: 1_000 })
      .toContain(marker);
    await serial.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 60_000 });
    const rows = serial.locator('[data-testid="serial-terminal"] .xterm-rows');
    const marker2 = `moved-serial-${randomBytes(4).toString("hex")}`;
    await expect
      .poll(async () => {
        await serial.getByTestId("serial-terminal").click();
        await serial.keyboard.type(`echo ${marker2}`);
        await serial.keyboard.press("Enter");
        await serial.waitForTimeout(1_000);
        return (await rows.innerText()).includes(`\n${marker2}`) || (await rows.innerText()).split(marker2).length - 1 >= 2;
      }, { timeout: 60_000, interval: 1_000 })
      .toBe(true);
    await screenshot(vnc, "remote-console-after-migration");
    await context.close();
  });
});
