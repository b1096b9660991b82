#!/usr/bin/env bash
# Runs the conformance kit (`bars conformance receiver`) against the official BaRS sandbox, the
# small FastAPI app in NHSDigital/booking-and-referral-fhir-api (sandbox/), at a pinned commit.
#
# The sandbox is fetched into a temporary directory, never into this repository: its code is
# not ours. It is installed in a Python virtual environment, started on 127.0.0.1, checked
# directly over plain HTTP (`--receiver-url http://...`), and stopped. The results are
# described in docs/CONFORMANCE.md ("Against the official sandbox").
#
# Usage: scripts/official-sandbox.sh [--git-dir DIR] [--report FILE] [--keep] [-- KIT-ARGS...]
#   --git-dir DIR   take the sandbox from a local git directory (a clone of the repository that
#                   has the pinned commit) instead of downloading it from GitHub
#   --report FILE   write the kit's JSON report there (default: ./official-sandbox.json)
#   --keep          keep the temporary directory (the sandbox, its venv and log) afterwards
#   KIT-ARGS        passed to the kit, e.g. `-- --expect docs/conformance/official-sandbox.json`
#                   or `-- --html sandbox.html`
# Environment: BARS (the bars binary; default: built with `cargo build -p bars`),
#   PYTHON (default python3; recorded with 3.11), SANDBOX_PORT (default 9100).
# Exit status: the kit's (1 when a SHALL check failed, as it does against the sandbox; 3 when
#   --expect found a changed result); 2 when the sandbox could not be fetched, installed or started.
set -euo pipefail

REPO=NHSDigital/booking-and-referral-fhir-api
COMMIT=0c9714b03041706cc3d3c2c02f995a20dd127fe9 # 2026-05-18, "Merge pull request #322"
PORT=${SANDBOX_PORT:-9100}
PYTHON=${PYTHON:-python3}
GIT_DIR_SRC=""
REPORT=official-sandbox.json
KEEP=""
KIT_ARGS=()

while [ $# -gt 0 ]; do
  case "$1" in
    --git-dir) GIT_DIR_SRC=$2; shift 2 ;;
    --report) REPORT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --) shift; KIT_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bars-official-sandbox.XXXXXX")
SERVER_PID=""

stop() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -z "$KEEP" ]; then rm -rf "$WORK"; fi
}
trap stop EXIT

fail() { echo "official-sandbox: $*" >&2; exit 2; }

echo "official-sandbox: working in $WORK" >&2

# 1. The sandbox and the examples it answers with (its Makefile copies specification/examples
#    into src/routes before building its image; we do the same without Docker).
if [ -n "$GIT_DIR_SRC" ]; then
  git --git-dir="$GIT_DIR_SRC" archive "$COMMIT" sandbox specification/examples \
    | tar -x -C "$WORK" || fail "commit $COMMIT not found in $GIT_DIR_SRC"
else
  curl -fsSL "https://codeload.github.com/$REPO/tar.gz/$COMMIT" \
    | tar -xz -C "$WORK" --strip-components=1 \
      "booking-and-referral-fhir-api-$COMMIT/sandbox" \
      "booking-and-referral-fhir-api-$COMMIT/specification/examples" \
    || fail "could not download $REPO at $COMMIT"
fi
cp -r "$WORK/specification/examples" "$WORK/sandbox/src/routes/"

# 2. Its requirements (unpinned upstream: Flask~=2.0.1, fastapi, uvicorn, httpx), held to the
#    versions this run was recorded with so that a rerun answers the same.
cat > "$WORK/constraints.txt" <<'EOF'
fastapi==0.165.0
starlette==1.10.0
pydantic==2.14.4
uvicorn==0.55.0
httpx==0.29.0
Flask==2.0.3
EOF
"$PYTHON" -m venv "$WORK/venv" || fail "could not create a virtual environment with $PYTHON"
"$WORK/venv/bin/pip" install -q -r "$WORK/sandbox/requirements.txt" -c "$WORK/constraints.txt" \
  || fail "could not install the sandbox's requirements"

# 3. Start it (its main.py binds 0.0.0.0:9000; we bind loopback on our port instead).
(cd "$WORK/sandbox/src" && exec "$WORK/venv/bin/uvicorn" main:app --host 127.0.0.1 --port "$PORT" \
  > "$WORK/sandbox.log" 2>&1) &
SERVER_PID=$!
for _ in $(seq 1 60); do
  if curl -fs "http://127.0.0.1:$PORT/_status" > /dev/null 2>&1; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/sandbox.log" >&2; fail "the sandbox exited"; }
  sleep 0.5
done
curl -fs "http://127.0.0.1:$PORT/_status" > /dev/null || fail "the sandbox did not answer /_status"

# 4. The kit, directly over plain HTTP (the sandbox has no TLS and no access policy).
BARS=${BARS:-}
if [ -z "$BARS" ]; then
  (cd "$ROOT" && cargo build -q -p bars) || fail "could not build bars"
  BARS="$ROOT/target/debug/bars"
fi
set +e
"$BARS" conformance receiver --receiver-url "http://127.0.0.1:$PORT" \
  --service 2000011111 --patient 9434765919 --patient 4409815415 \
  --json ${KIT_ARGS[@]+"${KIT_ARGS[@]}"} > "$REPORT"
status=$?
set -e
# The report is rewritten without indentation (the same JSON, a quarter smaller), then the
# summary per area is printed (the kit prints it only without --json).
"$PYTHON" - "$REPORT" >&2 <<'PY' || true
import json, sys
from collections import Counter
report = json.load(open(sys.argv[1]))
with open(sys.argv[1], "w") as f:
    json.dump(report, f, separators=(",", ":"), ensure_ascii=False)
    f.write("\n")
counts = {}
for r in report["results"]:
    counts.setdefault(r["area"], Counter())[r["result"]] += 1
print(f"{'area':<20} passed failed skipped")
for area, c in counts.items():
    print(f"{area:<20} {c['passed']:>6} {c['failed']:>6} {c['skipped']:>7}")
total = sum(counts.values(), Counter())
print(f"{'total':<20} {total['passed']:>6} {total['failed']:>6} {total['skipped']:>7}")
PY
echo "official-sandbox: the kit exited $status; its report is $REPORT" >&2
exit "$status"
