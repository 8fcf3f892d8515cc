import { defineConfig } from "vitest/config";

// Three suites: unit (no I/O), integration (real PostgreSQL + real libvirt + real guest; three
// projects: integration-parallel and integration-fleet side by side, then integration),
// e2e (Debian's chromium via playwright-core against the real portal). scripts/test.sh runs them in order.
/**
 * Integration files that may run two at a time (scripts/test.sh runs this project and
 * integration-fleet side by side first, then the serial one, in separate runs: projects of one run
 * would overlap).
 */
const INTEGRATION_PARALLEL = [
  // Not classroom.test.ts: its class of 10 guests keeps both cores busy on its own.
  "test/integration/classroom/{authz,schedules,teaching,submissions}.test.ts",
  "test/integration/portal/{vm-lifecycle,quota-race,tenant-isolation,snapshots,resize,cloud-init,leases,serial-log,ha-alerts,worker-fairness}.test.ts",
  "test/integration/api/{rest,image-upload,prometheus}.test.ts",
  "test/integration/hypervisor/{snapshots-networks,demo-image-boot,libvirt-host,firmware}.test.ts",
  // No guests at all: databases of their own and throw-away clusters in temporary directories.
  "test/integration/db/{migrations,schema-engine-fallback,embedded-postgres-access}.test.ts",
];

/**
 * Lab-host files (scripts/lab: daemons of their own, never the local one) that run one at a time,
 * side by side with integration-parallel (scripts/test.sh): the HA trials and the lab-host checks
 * mostly wait for hosts to die and come back (little CPU: one or two guests), and their bounds (a
 * host down within 10 s, restarted within 60 s) hold on a busy machine. Not migration, placement or
 * load balancing: those boot many guests or measure host load, so they run in the serial project.
 */
const INTEGRATION_FLEET = ["test/integration/fleet/ha.test.ts", "test/integration/hypervisor/lab-hosts.test.ts"];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration-parallel",
          include: INTEGRATION_PARALLEL,
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Two files at a time: these mostly wait for guests and operations, each with its own
          // database, VMs and names, and nothing in them times the machine or touches the daemons.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: "integration-fleet",
          include: INTEGRATION_FLEET,
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One file at a time: they share the lab's directory and its hosts.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          exclude: [...INTEGRATION_PARALLEL, ...INTEGRATION_FLEET],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One file at a time: lab hosts (one lab directory), libvirtd restarts, timing and load
          // measurements (alerts, metrics, console floods, placement), CPU pinning and huge pages.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
