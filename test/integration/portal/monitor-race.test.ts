import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { hostIsDown } from "../../../server/domain/ha.ts";
import { fleetState } from "../../../server/domain/host-state.ts";
import { HypervisorError, type HostConnection } from "../../../server/hypervisor/driver.ts";
import { HostMonitor } from "../../../server/jobs/host-monitor.ts";
import type { HostPool } from "../../../server/hypervisor/host-pool.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { settle, startPortal, type Portal } from "../../support/harness.ts";

let portal: Portal;
let tenant: AuthenticatedUser;
let vmId: string | undefined;

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_monitor_race");
  tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
});
afterAll(async () => {
  if (vmId) {
    const del = await portal.caller(tenant).vm.delete({ id: vmId }).catch(() => null);
    if (del) await settle(portal, tenant, del.operation.id);
  }
  await portal?.close();
});

describe("host monitor vs operations", () => {
  // Seen in CI under load: a relist read the domain list before a power-off and wrote its stale
  // "running" after the operation had recorded "stopped" (the row looked unchanged to its guard).
  it("a relist that observed the domain before an operation changed it never overwrites the operation's state", async () => {
    const api = portal.caller(tenant);
    const created = await api.vm.create({ name: "race", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
    vmId = created.vm.id;
    expect((await settle(portal, tenant, created.operation.id)).status).toBe("succeeded");
    const host = await db().host.findUniqueOrThrow({ where: { id: portal.hostId } });

    // A monitor whose host answers the domain list at once but hands it over only when released.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let listed!: () => void;
    const listedNow = new Promise<void>((r) => (listed = r));
    const real = portal.background!.hosts.get(host);
    const gated = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === "listDomains") {
          return async () => {
            const domains = await target.listDomains();
            listed();
            await gate;
            return domains;
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as HostConnection;
    const pool = { get: () => gated } as unknown as HostPool;
    const monitor = new HostMonitor(db(), pool, { now: () => new Date() }, 60_000);

    const relist = monitor.relist(host);
    await listedNow;
    expect((await settle(portal, tenant, (await api.vm.poweroff({ id: vmId })).operation.id)).status).toBe("succeeded");
    expect((await db().vm.findUniqueOrThrow({ where: { id: vmId } })).state).toBe("stopped");
    release();
    await relist;
    expect((await db().vm.findUniqueOrThrow({ where: { id: vmId } })).state).toBe("stopped");
  });
});

describe("host monitor and a slow host", () => {
  /** The portal's own connection to the host, with listDomains failing as `fail` says. */
  function hostWith(fail: () => Promise<never>, connected: boolean): HostPool {
    return {
      get: (h: Parameters<HostPool["get"]>[0]) => {
        const real = portal.background!.hosts.get(h);
        return new Proxy(real, {
          get(target, prop, receiver) {
            if (prop === "listDomains") return fail;
            if (prop === "isConnected") return connected;
            const v = Reflect.get(target, prop, receiver);
            return typeof v === "function" ? v.bind(target) : v;
          },
        }) as HostConnection;
      },
    } as unknown as HostPool;
  }

  // Seen in bench:classroom: with guests starting on every native thread the monitor's domain list
  // timed out, the host was marked disconnected, HA called it down three seconds later and marked
  // its VMs unknown, while libvirt's keepalive still held the connection.
  it("a call that times out on a live connection leaves the host connected (degraded), never down", async () => {
    const host = await db().host.findUniqueOrThrow({ where: { id: portal.hostId } });
    const timedOut = () => Promise.reject(new HypervisorError("timeout", `${host.uri}: listDomains timed out after 15000 ms`));
    await new HostMonitor(db(), hostWith(timedOut, true), { now: () => new Date() }, 60_000).relist(host);
    const slow = await db().host.findUniqueOrThrow({ where: { id: host.id } });
    expect(slow.state).toBe("connected");
    expect(slow.lastError).toMatch(/^slow to answer: .*listDomains timed out/);
    expect(fleetState(slow)).toBe("degraded");
    expect(hostIsDown(slow, new Date(0), new Date())).toBe(false);

    // Losing the connection is what says a host is gone.
    await new HostMonitor(db(), hostWith(timedOut, false), { now: () => new Date() }, 60_000).relist(host);
    expect((await db().host.findUniqueOrThrow({ where: { id: host.id } })).state).toBe("disconnected");

    // The next answer clears both.
    await new HostMonitor(db(), portal.background!.hosts, { now: () => new Date() }, 60_000).relist(host);
    const back = await db().host.findUniqueOrThrow({ where: { id: host.id } });
    expect(back.state).toBe("connected");
    expect(back.lastError).toBeNull();
  });
});
