#!/usr/bin/env bash
# `npm test`: the same preparation as `npm run up` where missing, then every suite: unit, integration
# (real PostgreSQL, real libvirt, real guests), end-to-end (Debian's chromium). Ends with one plain
# "N passed, N failed" line summing all suites. `npm test -- SUITE [FILES…]` runs one suite (unit,
# integration or e2e), optionally only those files, with the same preparation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export VMDESK_DATA_DIR=${VMDESK_DATA_DIR:-$PWD/.vmdesk-test}
# The embedded cluster is stopped again at the end if this run started it.
embedded_was_running=0
if [[ -n ${DATABASE_URL:-} || -f $VMDESK_DATA_DIR/postgres/data/postmaster.pid ]]; then embedded_was_running=1; fi
bash scripts/prepare.sh
export PATH="$PWD/node_modules/.bin:$PATH"
if [[ $embedded_was_running == 0 ]]; then trap 'node --import tsx scripts/db.ts stop' EXIT; fi
export CHECKPOINT_DISABLE=1
if [[ -z ${DATABASE_URL:-} ]]; then
  DATABASE_URL=$(node --import tsx scripts/db.ts url)
  export DATABASE_URL
fi
export VMDESK_DEMO_IMAGE_DIR=$VMDESK_DATA_DIR/images
export NODE_ENV=test
results=test-results
mkdir -p "$results"
status=0
suites=(unit integration e2e)
files=()
if [[ $# -gt 0 ]]; then
  case $1 in unit | integration | e2e) ;; *) echo "usage: npm test [-- unit|integration|e2e [FILES…]]" >&2; exit 2 ;; esac
  suites=("$1")
  files=("${@:2}")
fi
# The integration suite is three vitest projects (vitest.config.ts): the files that may run two at a
# time side by side with the lab-host files (one at a time), then the ones that must run alone.
projects=()
for suite in "${suites[@]}"; do
  if [[ $suite == integration ]]; then projects+=(integration-parallel integration-fleet integration); else projects+=("$suite"); fi
done
for project in unit integration-parallel integration-fleet integration e2e; do rm -f "$results/$project.json"; done
run_project() {
  # Given files may all belong to another integration project.
  local extra=()
  if [[ ${#files[@]} -gt 0 ]]; then extra=(--passWithNoTests); fi
  npx vitest run --project "$1" "${extra[@]}" --reporter=default --reporter=json --outputFile.json="$results/$1.json" "${files[@]}"
}
for project in "${projects[@]}"; do
  case $project in
    integration-fleet) continue ;; # runs beside integration-parallel
    integration-parallel)
      echo "[test] suites: integration-parallel and integration-fleet, side by side (fleet lines prefixed)"
      # The lab-host project's lines carry its name: the two reporters write to the same terminal.
      (run_project integration-fleet 2>&1 | sed -u 's/^/[integration-fleet] /'; exit "${PIPESTATUS[0]}") &
      fleet=$!
      run_project integration-parallel || status=1
      wait "$fleet" || status=1
      ;;
    *)
      echo "[test] suite: $project"
      run_project "$project" || status=1
      ;;
  esac
done
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0;
  for (const s of process.argv.slice(1)) {
    const f = `test-results/${s}.json`;
    if (!fs.existsSync(f)) { failed++; console.log(`[test] ${s}: no results (the suite did not run)`); continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests;
    console.log(`[test] ${s}: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
  }
  console.log(`${passed} passed, ${failed} failed`);
' "${projects[@]}"
exit $status
