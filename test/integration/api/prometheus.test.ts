/**
 * GET /metrics through the real portal (HTTP server process, real libvirt guest): only a bearer token
 * with the `metrics` scope scrapes (401 without a token, 403 for a tenant or an admin token without
 * the scope); the exposition parses with a Prometheus text parser and carries the host and VM gauges
 * (from the collector's readings), the operation queue, console sessions, HTTP latency and libvirt
 * call latency per host. A metrics token can do nothing else.
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disconnectDb } from "../../../server/db/client.ts";
import { ADMIN_PASSWORD, seedDatabase, waitFor } from "../../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../../support/server.ts";

interface Family {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }>;
}

let portal: RunningPortal;
let imageId = "";
let admin: ReturnType<typeof restClient>;
let vmId = "";

beforeAll(async () => {
  const seeded = await seedDatabase("vmdesk_it_prometheus");
  imageId = seeded.imageId;
  await disconnectDb();
  portal = await startPortalServer(seeded.url, { VMDESK_METRICS_INTERVAL_MS: "2000" });
  const tok = await restClient(portal.baseUrl)("POST", "/auth/token", { username: "admin", password: ADMIN_PASSWORD });
  admin = restClient(portal.baseUrl, tok.body.token);
}, 120_000);

afterAll(async () => {
  if (vmId) {
    await admin("DELETE", `/vms/${vmId}`);
    await waitFor("the VM deleted", async () => (await admin("GET", `/vms/${vmId}`)).status === 404, 60_000, 500).catch(() => undefined);
  }
  await portal?.stop();
}, 120_000);

const scrape = (token?: string) => fetch(`${portal.baseUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("GET /metrics", () => {
  it("refuses without a token (401), a tenant's token or an admin token without the metrics scope (403)", async () => {
    const none = await scrape();
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect((await scrape("vmd_not-a-token")).status).toBe(401);
    const adminOnly = await admin("POST", "/tokens", { name: "no-metrics", scopes: ["read", "vms", "admin"] });
    expect(adminOnly.status).toBe(201);
    expect((await scrape(adminOnly.body.token)).status).toBe(403);
    await admin("POST", "/users", { username: "prom-tenant", password: "tenant-password-1", role: "tenant" });
    const tenant = await restClient(portal.baseUrl)("POST", "/auth/token", { username: "prom-tenant", password: "tenant-password-1" });
    expect((await scrape(tenant.body.token)).status).toBe(403);
    expect((await fetch(`${portal.baseUrl}/metrics`, { method: "POST", body: "x" })).status).toBe(405);
  });

  it("serves the fleet's and the portal's series in the exposition format to a metrics token, which can do nothing else", { timeout: 180_000 }, async () => {
    const created = await admin("POST", "/vms", { name: "scraped", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
    expect(created.status).toBe(202);
    vmId = created.body.vm.id;
    await waitFor("the VM running", async () => (await admin("GET", `/vms/${vmId}`)).body?.state === "running", 120_000, 500);

    const minted = await admin("POST", "/tokens", { name: "prometheus", scopes: ["metrics"] });
    expect(minted.status, JSON.stringify(minted.body)).toBe(201);
    expect(minted.body.scopes).toEqual(["read", "metrics"]);
    const token = minted.body.token as string;
    // Scraping, and nothing an admin token could do.
    expect((await restClient(portal.baseUrl, token)("GET", "/hosts")).status).toBe(403);
    expect((await restClient(portal.baseUrl, token)("GET", "/users")).status).toBe(403);

    let text = "";
    const families = await waitFor("the VM's series in the exposition", async () => {
      const res = await scrape(token);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      text = await res.text();
      const parsed = parsePrometheusTextFormat(text) as Family[];
      const vm = parsed.find((f) => f.name === "vmdesk_vm_cpu_percent")?.metrics.find((m) => m.labels?.vm === vmId);
      return vm ? new Map(parsed.map((f) => [f.name, f])) : null;
    }, 30_000, 1000);

    const one = (name: string, labels: Record<string, string> = {}) =>
      families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    expect(families.get("vmdesk_host_cpu_percent")?.type).toBe("GAUGE");
    expect(Number(one("vmdesk_host_cpu_percent", { host: "local" })?.value)).toBeGreaterThanOrEqual(0);
    expect(Number(one("vmdesk_host_memory_total_bytes", { host: "local" })?.value)).toBeGreaterThan(256 * 1024 ** 2);
    expect(Number(one("vmdesk_host_vms_running", { host: "local" })?.value)).toBeGreaterThanOrEqual(1);
    expect(one("vmdesk_host_state", { host: "local", state: "up" })?.value).toBe("1");
    expect(one("vmdesk_vm_cpu_percent", { vm: vmId, name: "scraped", host: "local" })).toBeDefined();
    expect(Number(one("vmdesk_vm_memory_bytes", { vm: vmId })?.value)).toBeGreaterThan(0);
    for (const name of ["vmdesk_vm_disk_read_bytes_per_second", "vmdesk_vm_network_receive_bytes_per_second", "vmdesk_operations_queued", "vmdesk_operation_oldest_queued_seconds", "vmdesk_console_sessions"]) {
      expect(families.has(name), name).toBe(true);
    }
    // The portal's own: request latency by route group, libvirt latency per host and call.
    // (The parser keeps no labels on histograms: their series are read from the text.)
    expect(families.get("vmdesk_http_request_duration_seconds")?.type).toBe("HISTOGRAM");
    expect(families.get("vmdesk_libvirt_call_duration_seconds")?.type).toBe("HISTOGRAM");
    const count = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
    expect(count('vmdesk_http_request_duration_seconds_count{route="rest",method="POST",status="202"}')).toBeGreaterThanOrEqual(1);
    expect(count('vmdesk_libvirt_call_duration_seconds_count{host="qemu:///system",call="listDomains",outcome="ok"}')).toBeGreaterThanOrEqual(1);
  });
});
