/**
 * Idempotent seed: the local host (qemu:///system), the demo images, and the admin account. The
 * admin password is VMDESK_ADMIN_PASSWORD when set; otherwise generated once, kept (0600) in the data
 * directory and printed.
 */
import fs from "node:fs";
import path from "node:path";
import { db, disconnectDb } from "../server/db/client.ts";
import { config } from "../server/config.ts";
import { randomPassword } from "../server/auth/secrets.ts";
import { ensureAdmin } from "../server/services/user-service.ts";
import { localVirtualization } from "./local-virtualization.ts";

const cfg = config();
const client = db();
const virt = localVirtualization();
const host = await client.host.upsert({
  where: { uri: "qemu:///system" },
  create: { name: "local", uri: "qemu:///system", ...virt, poolName: "vmdesk", poolPath: path.join(cfg.dataDir, "pool") },
  update: {},
});

const imageDir = path.resolve(process.env.VMDESK_IMAGE_DIR ?? path.join(cfg.dataDir, "images"));
const images = [
  { name: "vmdesk demo (busybox)", file: "vmdesk-demo.qcow2", format: "qcow2", description: "Tiny Debian-kernel + busybox guest: boots to a shell on the VGA console and ttyS0 in seconds." },
  { name: "vmdesk demo installer (ISO)", file: "vmdesk-demo.iso", format: "iso", description: "The demo guest as a bootable ISO: a blank disk plus this CD." },
];
for (const img of images) {
  const file = path.join(imageDir, img.file);
  if (!fs.existsSync(file)) continue;
  await client.image.upsert({
    where: { name: img.name },
    create: { name: img.name, description: img.description, path: file, format: img.format, minDiskGiB: 1, hostId: host.id },
    update: { path: file },
  });
}

const adminFile = path.join(cfg.dataDir, "admin-password");
let password = process.env.VMDESK_ADMIN_PASSWORD ?? null;
let generated = false;
if (!password && !(await client.user.findUnique({ where: { username: "admin" } }))) {
  password = randomPassword();
  generated = true;
}
await ensureAdmin(client, "admin", password);
if (generated && password) {
  fs.mkdirSync(cfg.dataDir, { recursive: true });
  fs.writeFileSync(adminFile, `${password}\n`, { mode: 0o600 });
}
const shown = process.env.VMDESK_ADMIN_PASSWORD ? "(from VMDESK_ADMIN_PASSWORD)" : fs.existsSync(adminFile) ? fs.readFileSync(adminFile, "utf8").trim() : "(unchanged; set VMDESK_ADMIN_PASSWORD to reset it)";
console.log(`[seed] host "${host.name}" ${host.uri} (${host.domainType}); admin login: admin / ${shown}`);
await disconnectDb();
