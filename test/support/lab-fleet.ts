/**
 * A portal whose fleet is `count` lab hosts (scripts/lab: real libvirt daemons over qemu+tls): the
 * local host disabled, the demo qcow2 on the lab's shared storage as an image every lab host reaches,
 * and every lab host measured and `up` before the suite starts. `down()` removes the lab hosts.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { config } from "../../server/config.ts";
import { db } from "../../server/db/client.ts";
import { labDown, labPaths, labUp, type LabHost, type LabPaths } from "../../scripts/lab/lab-hosts.ts";
import { registerLabHosts } from "../../scripts/lab/register.ts";
import { demoImageDir, startPortal, waitFor, type Portal } from "./harness.ts";

export interface LabFleet {
  portal: Portal;
  paths: LabPaths;
  lab: LabHost[];
  /** The shared demo image. */
  imageId: string;
}

export async function startLabFleet(dbName: string, count: number): Promise<LabFleet> {
  const portal = await startPortal(dbName);
  const cfg = config();
  const paths = labPaths(cfg.dataDir, cfg.hostCredentialsDir);
  const lab = await labUp(paths, count);
  const rows = await registerLabHosts(db(), lab, cfg.hostCredentialsDir);
  await db().host.update({ where: { id: portal.hostId }, data: { enabled: false } });
  mkdirSync(paths.shared, { recursive: true });
  const file = path.join(paths.shared, "vmdesk-demo.qcow2");
  copyFileSync(path.join(demoImageDir, "vmdesk-demo.qcow2"), file);
  const imageId = (await db().image.create({ data: { name: "lab demo (shared)", path: file, format: "qcow2", minDiskGiB: 1, shared: true, hostId: rows[0]!.id } })).id;
  await waitFor("the lab hosts measured and up", async () => {
    const hosts = await portal.caller(portal.admin).host.list();
    const up = hosts.filter((h) => h.name.startsWith("lab") && h.state === "up" && h.capacity.vcpus !== null);
    return up.length === count ? true : null;
  }, 60_000);
  return { portal, paths, lab, imageId };
}

export async function stopLabFleet(fleet: Partial<LabFleet>): Promise<void> {
  await fleet.portal?.close();
  if (fleet.paths) labDown(fleet.paths);
}
