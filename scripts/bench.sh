#!/usr/bin/env bash
# `npm run bench:NAME` (provision, classroom, console): the preparation `npm test` does, where missing,
# then test/bench/NAME.ts. Benchmarks use the tests' data directory (.vmdesk-test: their own embedded
# PostgreSQL, demo image and storage pools), never the portal's .vmdesk, so they work right after
# `npm run up` and leave its data alone. Preparation talks on stderr; stdout carries the JSON line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name=${1:-}
if [[ -z $name || ! -f test/bench/$name.ts ]]; then
  echo "usage: scripts/bench.sh provision|classroom|console|api|migrate|metrics|failover|upload|snapshot" >&2
  exit 2
fi
export VMDESK_DATA_DIR=${VMDESK_DATA_DIR:-$PWD/.vmdesk-test}
# The embedded cluster is stopped again at the end if this run started it.
embedded_was_running=0
if [[ -n ${DATABASE_URL:-} || -f $VMDESK_DATA_DIR/postgres/data/postmaster.pid ]]; then embedded_was_running=1; fi
bash scripts/prepare.sh >&2
export PATH="$PWD/node_modules/.bin:$PATH"
if [[ $embedded_was_running == 0 ]]; then trap 'node --import tsx scripts/db.ts stop >&2' EXIT; fi
export CHECKPOINT_DISABLE=1
export VMDESK_DEMO_IMAGE_DIR=$VMDESK_DATA_DIR/images
node --import tsx "test/bench/$name.ts"
