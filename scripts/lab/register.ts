/**
 * Lab hosts in the portal's database: registered like any remote host an admin adds (name, TLS URI,
 * pool path, virtualization), so the portal connects to them over the authenticated transport.
 */
import path from "node:path";
import type { Db } from "../../server/db/client.ts";
import { parseHostUri } from "../../server/domain/host-uri.ts";
import { localVirtualization } from "../local-virtualization.ts";
import { LAB_POOL_PATH, type LabHost, type LabPaths } from "./lab-hosts.ts";

/** The pool lab hosts share when registered with `sharedPoolPath` (a directory on the lab's shared storage). */
export const LAB_SHARED_POOL_NAME = "vmdesk-shared";
export const labSharedPoolPath = (paths: LabPaths) => path.join(paths.shared, "pool");

/**
 * Creates or updates a host row per lab host (matched by name); checks each URI as the admin API
 * would. With `sharedPoolPath`, every host's VM disks go to that directory on the lab's shared
 * storage, declared shared (VMs then migrate memory only); otherwise each host has its own pool.
 */
export async function registerLabHosts(
  client: Db,
  hosts: LabHost[],
  credentialsDir: string,
  opts: { sharedPoolPath?: string } = {},
): Promise<{ id: string; name: string }[]> {
  const virt = localVirtualization();
  const out: { id: string; name: string }[] = [];
  for (const h of hosts) {
    const parsed = parseHostUri(h.uri, { keyfileDir: credentialsDir });
    if (!parsed.ok) throw new Error(`${h.name}: URI refused: ${parsed.reason}`);
    const pool = opts.sharedPoolPath
      ? { poolName: LAB_SHARED_POOL_NAME, poolPath: opts.sharedPoolPath, poolShared: true }
      : { poolName: "vmdesk", poolPath: LAB_POOL_PATH, poolShared: false };
    const data = { uri: h.uri, ...virt, ...pool, enabled: true };
    const row = await client.host.upsert({ where: { name: h.name }, create: { name: h.name, ...data }, update: data, select: { id: true, name: true } });
    out.push(row);
  }
  return out;
}

/**
 * Removes the rows of lab hosts nothing refers to; a host still holding VM or image rows stays,
 * disabled, and is reported (its rows are someone's records: deleting them is not this script's call).
 */
export async function deregisterLabHosts(client: Db, hosts: LabHost[]): Promise<{ removed: string[]; kept: string[] }> {
  const removed: string[] = [];
  const kept: string[] = [];
  for (const h of hosts) {
    const row = await client.host.findUnique({ where: { name: h.name }, select: { id: true, uri: true, _count: { select: { vms: true, images: true } } } });
    if (!row || row.uri !== h.uri) continue;
    if (row._count.vms === 0 && row._count.images === 0) {
      await client.host.delete({ where: { id: row.id } });
      removed.push(h.name);
    } else {
      await client.host.update({ where: { id: row.id }, data: { enabled: false } });
      kept.push(h.name);
    }
  }
  return { removed, kept };
}
