/**
 * Lab hosts in the portal's database: registered like any remote host an admin adds (name, TLS URI,
 * pool path, virtualization), so the portal connects to them over the authenticated transport.
 */
import type { Db } from "../../server/db/client.ts";
import { parseHostUri } from "../../server/domain/host-uri.ts";
import { localVirtualization } from "../local-virtualization.ts";
import { LAB_POOL_PATH, type LabHost } from "./lab-hosts.ts";

/** Creates or updates a host row per lab host (matched by name); checks each URI as the admin API would. */
export async function registerLabHosts(client: Db, hosts: LabHost[], credentialsDir: string): Promise<{ id: string; name: string }[]> {
  const virt = localVirtualization();
  const out: { id: string; name: string }[] = [];
  for (const h of hosts) {
    const parsed = parseHostUri(h.uri, { keyfileDir: credentialsDir });
    if (!parsed.ok) throw new Error(`${h.name}: URI refused: ${parsed.reason}`);
    const data = { uri: h.uri, ...virt, poolName: "vmdesk", poolPath: LAB_POOL_PATH, enabled: true };
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
