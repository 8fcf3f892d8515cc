/**
 * The portal's own Prometheus metrics (prom-client), beside the logger: one registry per process,
 * filled where things happen (HTTP requests in server/main.ts, libvirt calls in the driver) and read
 * by GET /metrics (server/api/prometheus.ts), which adds the hosts' and VMs' gauges from the database.
 * Labels are bounded: routes are grouped, libvirt calls are named by their first word (never by a
 * domain or volume name), hosts are few.
 */
import client from "prom-client";

export const registry = new client.Registry();

export const httpDuration = new client.Histogram({
  name: "vmdesk_http_request_duration_seconds",
  help: "HTTP requests by route group, method and status",
  labelNames: ["route", "method", "status"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const libvirtCallDuration = new client.Histogram({
  name: "vmdesk_libvirt_call_duration_seconds",
  help: "Calls to a host's libvirt by host URI, call and outcome (ok, error, timeout)",
  labelNames: ["host", "call", "outcome"] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
  registers: [registry],
});

/** The route group of a request path: a fixed, small set of label values whatever clients send. */
export function routeGroup(pathname: string): string {
  if (pathname.startsWith("/api/v1/")) return "rest";
  if (pathname.startsWith("/api/trpc/")) return "trpc";
  if (pathname.startsWith("/api/auth/")) return "auth";
  if (pathname.startsWith("/_next/")) return "static";
  if (pathname === "/metrics") return "metrics";
  return "page";
}
