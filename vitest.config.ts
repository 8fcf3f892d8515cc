import { defineConfig } from "vitest/config";

// Three suites: unit (no I/O), integration (real PostgreSQL + real libvirt + real guest),
// e2e (Debian's chromium via playwright-core against the real portal). scripts/test.sh runs them in order.
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
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Suites share one libvirtd and one PostgreSQL cluster; files run one at a time to keep
          // the 2-core machine's guest boots predictable.
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
