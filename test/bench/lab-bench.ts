/**
 * What the lab-host benchmarks (migrate, failover) set up alike: two lab hosts registered (optionally
 * on a shared pool) with every other host disabled, the demo qcow2 on the lab's shared storage as an
 * image both reach, and, once the portal runs, an admin REST client that has seen both hosts up.
 */
import fs from "node:fs";
import path from "node:path";
import { db, disconnectDb } from "../../server/db/client.ts";
import { labUp, type LabHost, type LabPaths } from "../../scripts/lab/lab-hosts.ts";
import { registerLabHosts } from "../../scripts/lab/register.ts";
import { demoImageDir, waitFor } from "../support/harness.ts";
import { restClient, type RunningPortal } from "../support/server.ts";
import { BENCH_ADMIN_PASSWORD } from "./baseline.ts";

export async function expectStatus(what: string, res: Promise<{ status: number; body: any }>, status: number) {
  const r = await res;
  if (r.status !== status) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** lab1 and lab2 up and registered, the shared demo image registered; the database connection is closed again. */
export async function prepareLabFleet(
  paths: LabPaths,
  hostCredentialsDir: string,
  opts: { sharedPoolPath?: string; imageName: string },
): Promise<{ lab: LabHost[]; imageId: string; base: string }> {
  const lab = await labUp(paths, 2);
  const rows = await registerLabHosts(db(), lab, hostCredentialsDir, { sharedPoolPath: opts.sharedPoolPath });
  await db().host.updateMany({ where: { name: { notIn: lab.map((h) => h.name) } }, data: { enabled: false } });
  fs.mkdirSync(paths.shared, { recursive: true });
  const base = path.join(paths.shared, "vmdesk-demo.qcow2");
  fs.copyFileSync(path.join(demoImageDir, "vmdesk-demo.qcow2"), base);
  const imageId = (await db().image.create({ data: { name: opts.imageName, path: base, format: "qcow2", minDiskGiB: 1, shared: true, hostId: rows[0]!.id } })).id;
  await disconnectDb();
  return { lab, imageId, base };
}

/** The admin's REST client on a running portal, once it sees both lab hosts up; `hostId("lab1")`. */
export async function labAdmin(portal: RunningPortal) {
  const anon = restClient(portal.baseUrl);
  const admin = restClient(portal.baseUrl, (await expectStatus("admin token", anon("POST", "/auth/token", { username: "admin", password: BENCH_ADMIN_PASSWORD }), 201)).token);
  const hosts = await waitFor("the lab hosts up", async () => {
    const list = (await admin("GET", "/hosts")).body as Array<{ id: string; name: string; state: string }>;
    return list.filter((h) => h.name.startsWith("lab") && h.state === "up").length === 2 ? list : null;
  }, 60_000);
  return { admin, hostId: (name: string) => hosts.find((h) => h.name === name)!.id };
}
