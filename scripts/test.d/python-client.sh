#!/usr/bin/env bash
# The official Python client (`skydive-client` from PyPI, unchanged) against a real analyzer:
# builds `skydive`, starts `skydive analyzer` on a free loopback port with a temporary data
# directory, and runs tests/python/test_client.py in a virtualenv (.venv, git-ignored).
# Usage: scripts/test.d/python-client.sh   (run by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."

# The version the tests were written against (0.10.0 is the last release, 2020).
CLIENT_VERSION=0.10.0

if ! command -v python3 >/dev/null 2>&1; then
  echo "python-client: python3 is missing (apt-get install python3-venv)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('skydive-client') != '$CLIENT_VERSION')" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check "skydive-client==$CLIENT_VERSION"
fi

cargo build --quiet --bin skydive
bin="${CARGO_TARGET_DIR:-target}/debug/skydive"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
log="$data/analyzer.log"
SKYDIVE_HOST_ID=python-client-test \
SKYDIVE_ANALYZER_LISTEN="127.0.0.1:$port" \
SKYDIVE_STORAGE_DATA_DIR="$data/history" \
  "$bin" analyzer >"$log" 2>&1 &
pid=$!

status=0
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" || status=$?
  fi
  if [ "$status" -ne 0 ]; then
    echo "--- analyzer log ($log) ---" >&2
    cat "$log" >&2
  fi
  rm -rf "$data"
}
trap cleanup EXIT

SKYDIVE_ANALYZER="127.0.0.1:$port" .venv/bin/python tests/python/test_client.py || status=$?

# A clean stop: the analyzer exits 0 on SIGTERM after flushing its history.
kill -TERM "$pid"
wait "$pid" || { echo "python-client: the analyzer did not stop cleanly" >&2; status=1; }
exit "$status"
