#!/usr/bin/env bash
# `npm test`: the same preparation as `npm run up` where missing, then every suite: unit, integration
# (real PostgreSQL, real libvirt, real guests), end-to-end (Debian's chromium).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export VMDESK_DATA_DIR=${VMDESK_DATA_DIR:-$PWD/.vmdesk-test}
bash scripts/prepare.sh
export PATH="$PWD/node_modules/.bin:$PATH"
export CHECKPOINT_DISABLE=1
if [[ -z ${DATABASE_URL:-} ]]; then
  DATABASE_URL=$(node --import tsx scripts/db.ts url)
  export DATABASE_URL
fi
export VMDESK_DEMO_IMAGE_DIR=$VMDESK_DATA_DIR/images
export NODE_ENV=test
status=0
for suite in unit integration e2e; do
  echo "[test] suite: $suite"
  npx vitest run --project "$suite" || status=1
done
exit $status
