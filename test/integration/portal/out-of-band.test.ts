import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { domainExists, settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

let portal: Portal;
let tenant: AuthenticatedUser;
let vmId: string;
let domainName: string;

const ZERO = { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 };

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_out_of_band");
  tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
});
afterAll(async () => {
  // Whatever happened, leave no domain and no row behind.
  if (domainName && domainExists(domainName)) {
    try {
      virsh("destroy", domainName);
    } catch {
      // already off
    }
    try {
      virsh("undefine", domainName);
    } catch {
      // already gone
    }
  }
  try {
    const vm = await portal.caller(tenant).vm.get({ id: vmId });
    if (vm.activeOperationId) await settle(portal, tenant, vm.activeOperationId);
    const del = await portal.caller(tenant).vm.delete({ id: vmId });
    await settle(portal, tenant, del.operation.id);
  } catch {
    // deleted by the test
  }
  await portal?.close();
});

/** Polls the API (as the owner) until the VM shows `state`, failing after `ms`. */
async function waitForState(state: string, ms: number) {
  const started = Date.now();
  const vm = await waitFor(`state ${state}`, async () => {
    const v = await portal.caller(tenant).vm.get({ id: vmId });
    return v.state === state ? v : null;
  }, ms, 100);
  return { vm, elapsedMs: Date.now() - started };
}

describe("changes made behind the portal's back", () => {
  it("virsh destroy → stopped within 10 s; virsh undefine → missing within 10 s and kept; deleting a missing VM returns its quota", async () => {
    const api = portal.caller(tenant);
    const created = await api.vm.create({ name: "oob", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
    vmId = created.vm.id;
    domainName = created.vm.domainName;
    expect((await settle(portal, tenant, created.operation.id)).status).toBe("succeeded");
    expect((await api.vm.get({ id: vmId })).state).toBe("running");

    virsh("destroy", domainName);
    const stopped = await waitForState("stopped", 10_000);
    expect(stopped.elapsedMs).toBeLessThanOrEqual(10_000);
    expect(stopped.vm.observedState).toBe("shutoff");
    expect(stopped.vm.guestReadyAt).toBeNull();
    expect(stopped.vm.activeOperationId).toBeNull();

    virsh("undefine", domainName);
    expect(domainExists(domainName)).toBe(false);
    const missing = await waitForState("missing", 10_000);
    expect(missing.elapsedMs).toBeLessThanOrEqual(10_000);
    expect(missing.vm.observedState).toBeNull();
    expect(missing.vm.stateMessage).toBe("the domain vanished from its host");

    // Shown, never silently removed: still listed as missing across several relists (1 s apart here).
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 1_000));
      const listed = (await api.vm.list()).find((v) => v.id === vmId);
      expect(listed?.state).toBe("missing");
    }
    expect((await api.auth.quota()).used).toEqual({ vms: 1, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
    const row = await db().vm.findUniqueOrThrow({ where: { id: vmId }, select: { deletedAt: true, quotaHeld: true } });
    expect(row).toEqual({ deletedAt: null, quotaHeld: true });

    // The only actions a missing VM allows is delete.
    await expect(api.vm.start({ id: vmId })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });

    const poolPath = (await db().host.findUniqueOrThrow({ where: { id: portal.hostId } })).poolPath;
    const diskPath = `${poolPath}/${domainName}.qcow2`;
    expect(fs.existsSync(diskPath)).toBe(true);

    const del = await api.vm.delete({ id: vmId });
    expect(del.vm.state).toBe("deleting");
    const op = await settle(portal, tenant, del.operation.id);
    expect(op.error).toBeNull();
    expect(op.status).toBe("succeeded");
    await expect(api.vm.get({ id: vmId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect((await api.vm.list()).map((v) => v.id)).not.toContain(vmId);
    expect((await api.auth.quota()).used).toEqual(ZERO);
    expect(domainExists(domainName)).toBe(false);
    expect(fs.existsSync(diskPath)).toBe(false);
  });
});
