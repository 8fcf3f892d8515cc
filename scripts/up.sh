#!/usr/bin/env bash
# `npm run up`: prepare everything that is missing, then serve the portal (PORT, default 3000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/prepare.sh
export PATH="$PWD/node_modules/.bin:$PATH"
export VMDESK_DATA_DIR=${VMDESK_DATA_DIR:-$PWD/.vmdesk}
export NODE_ENV=production
echo "[up] admin login: admin / $( [[ -n ${VMDESK_ADMIN_PASSWORD:-} ]] && echo '(VMDESK_ADMIN_PASSWORD)' || cat "$VMDESK_DATA_DIR/admin-password" 2>/dev/null || echo '(unchanged)')"
exec node --import tsx server/main.ts
