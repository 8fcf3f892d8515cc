import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // Native and Node-only modules stay outside Next's bundle. The libvirt binding is never imported by
  // bundled code (only server/jobs and server/console load it), but is listed as a second guard.
  serverExternalPackages: ["@node-rs/argon2", "pg", "pino", "@prisma/client", "@prisma/adapter-pg", "vmdesk_libvirt"],
  poweredByHeader: false,
  reactStrictMode: true,
  // The build checks what it ships; `npm run typecheck` (a unit test) checks everything, tests included.
  typescript: { ignoreBuildErrors: false, tsconfigPath: "tsconfig.app.json" },
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Frame-Options", value: "DENY" },
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "same-origin" },
        ],
      },
    ];
  },
};

export default nextConfig;
