import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { domainExists, settle, startPortal, type Portal } from "../../support/harness.ts";

let portal: Portal;
const created: Array<{ user: AuthenticatedUser; vmId: string }> = [];

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_quota_race");
});
afterAll(async () => {
  // Leave nothing behind on the shared libvirtd even if a test failed half-way.
  for (const { user, vmId } of created) {
    try {
      const vm = await portal.caller(user).vm.get({ id: vmId });
      if (vm.activeOperationId) await settle(portal, user, vm.activeOperationId);
      const del = await portal.caller(user).vm.delete({ id: vmId });
      await settle(portal, user, del.operation.id);
    } catch {
      // already gone
    }
  }
  await portal?.close();
});

const ZERO = { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 };
const SMALL = { vcpus: 1, memoryMiB: 96, diskGiB: 1 };

function rejection(r: PromiseSettledResult<unknown>): TRPCError {
  expect(r.status).toBe("rejected");
  const reason = (r as PromiseRejectedResult).reason;
  expect(reason).toBeInstanceOf(TRPCError);
  return reason as TRPCError;
}

describe("quota under concurrency", () => {
  it("20 concurrent creates with room for one: exactly one wins, 19 get CONFLICT naming the VM-count limit; delete returns the quota", async () => {
    // Room for exactly one VM: only the VM count binds, so every refusal names that one limit.
    const tenant = await portal.newTenant({ vms: 1, vcpus: 2, memoryMiB: 256, diskGiB: 2 });
    const api = portal.caller(tenant);

    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => portal.caller(tenant).vm.create({ name: `race-${i}`, imageId: portal.imageId, ...SMALL })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const r of lost) {
      const err = rejection(r);
      expect(err.code).toBe("CONFLICT");
      expect(err.message).toBe("quota exceeded: VM count limit 1, in use 1, requested 1 (0 left)");
    }

    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof api.vm.create>>>).value;
    created.push({ user: tenant, vmId: winner.vm.id });
    expect(winner.vm.state).toBe("provisioning");
    expect((await api.auth.quota()).used).toEqual({ vms: 1, ...SMALL });
    const list = await api.vm.list();
    expect(list.map((v) => v.id)).toEqual([winner.vm.id]);

    const op = await settle(portal, tenant, winner.operation.id);
    expect(op.error).toBeNull();
    expect(op.status).toBe("succeeded");
    expect((await api.vm.get({ id: winner.vm.id })).state).toBe("running");
    expect((await api.auth.quota()).used).toEqual({ vms: 1, ...SMALL });

    const del = await api.vm.delete({ id: winner.vm.id });
    expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
    expect(domainExists(winner.vm.domainName)).toBe(false);
    expect((await api.auth.quota()).used).toEqual(ZERO);
    expect(await api.vm.list()).toEqual([]);
  });

  it("a request over the memory limit alone is refused naming memory, and reserves nothing", async () => {
    const tenant = await portal.newTenant({ vms: 2, vcpus: 2, memoryMiB: 256, diskGiB: 10 });
    const api = portal.caller(tenant);
    const err = await api.vm.create({ name: "too-much-ram", imageId: portal.imageId, vcpus: 1, memoryMiB: 512, diskGiB: 1 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TRPCError);
    expect((err as TRPCError).code).toBe("CONFLICT");
    expect((err as TRPCError).message).toBe("quota exceeded: memory (MiB) limit 256, in use 0, requested 512 (256 left)");
    expect((err as TRPCError).message).toContain("memory");
    expect((err as TRPCError).message).not.toContain("vCPUs");
    expect((await api.auth.quota()).used).toEqual(ZERO);
    expect(await api.vm.list()).toEqual([]);
  });

  it("a request over the vCPU limit alone is refused naming vCPUs, and reserves nothing", async () => {
    const tenant = await portal.newTenant({ vms: 2, vcpus: 2, memoryMiB: 256, diskGiB: 10 });
    const api = portal.caller(tenant);
    const err = await api.vm.create({ name: "too-many-cpus", imageId: portal.imageId, vcpus: 4, memoryMiB: 96, diskGiB: 1 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TRPCError);
    expect((err as TRPCError).code).toBe("CONFLICT");
    expect((err as TRPCError).message).toBe("quota exceeded: vCPUs limit 2, in use 0, requested 4 (2 left)");
    expect((err as TRPCError).message).not.toContain("memory");
    expect((await api.auth.quota()).used).toEqual(ZERO);
    expect(await api.vm.list()).toEqual([]);
  });

  it("two concurrent actions on one VM: one is accepted, the other gets 409 CONFLICT and records nothing", async () => {
    const tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
    const api = portal.caller(tenant);
    const c = await api.vm.create({ name: "one-op", imageId: portal.imageId, ...SMALL });
    created.push({ user: tenant, vmId: c.vm.id });
    expect((await settle(portal, tenant, c.operation.id)).status).toBe("succeeded");
    expect((await api.vm.get({ id: c.vm.id })).state).toBe("running");

    const results = await Promise.allSettled([portal.caller(tenant).vm.pause({ id: c.vm.id }), portal.caller(tenant).vm.pause({ id: c.vm.id })]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const err = rejection(lost[0]!);
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toBe("another operation is already in progress on this VM");
    const accepted = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof api.vm.pause>>>).value;
    expect(accepted.vm.activeOperationId).toBe(accepted.operation.id);

    // The refused request left no operation behind: create + the one pause.
    expect((await api.vm.operations({ id: c.vm.id })).map((o) => o.kind)).toEqual(["pause", "create"]);
    expect((await settle(portal, tenant, accepted.operation.id)).status).toBe("succeeded");
    expect((await api.vm.get({ id: c.vm.id })).state).toBe("paused");

    // Once the operation is over the VM accepts the next action.
    const del = await api.vm.delete({ id: c.vm.id });
    expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
    expect((await api.auth.quota()).used).toEqual(ZERO);
  });

  it("six concurrent actions of different kinds on one running VM: exactly one is accepted, five get 409 CONFLICT", async () => {
    const tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
    const api = portal.caller(tenant);
    const c = await api.vm.create({ name: "one-op-many", imageId: portal.imageId, ...SMALL });
    created.push({ user: tenant, vmId: c.vm.id });
    expect((await settle(portal, tenant, c.operation.id)).status).toBe("succeeded");
    expect((await api.vm.get({ id: c.vm.id })).state).toBe("running");

    const id = c.vm.id;
    const results = await Promise.allSettled([
      portal.caller(tenant).vm.pause({ id }),
      portal.caller(tenant).vm.reboot({ id }),
      portal.caller(tenant).vm.poweroff({ id }),
      portal.caller(tenant).vm.shutdown({ id, force: true, timeoutS: 5 }),
      portal.caller(tenant).vm.pause({ id }),
      portal.caller(tenant).vm.reboot({ id }),
    ]);
    const codes = results.map((r) => (r.status === "fulfilled" ? "accepted" : (r.reason as TRPCError).code));
    expect(codes.filter((c) => c === "accepted")).toHaveLength(1);
    expect(codes.filter((c) => c !== "accepted")).toEqual(["CONFLICT", "CONFLICT", "CONFLICT", "CONFLICT", "CONFLICT"]);
    const accepted = results.find((r) => r.status === "fulfilled") as PromiseFulfilledResult<Awaited<ReturnType<typeof api.vm.pause>>>;
    expect((await api.vm.operations({ id })).map((o) => o.id)).toEqual([accepted.value.operation.id, c.operation.id]);
    await settle(portal, tenant, accepted.value.operation.id);

    const del = await api.vm.delete({ id });
    expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
    expect((await api.auth.quota()).used).toEqual(ZERO);
  });
});
