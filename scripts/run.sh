#!/usr/bin/env bash
# One command to see Skydive work: build, start the demo lab (scripts/demo-lab.sh) and run
# `skydive allinone` (analyzer + agent in one process, API and UI on http://127.0.0.1:8082).
# Ctrl-C stops Skydive and removes the lab.
#
# Usage: sudo scripts/run.sh [allinone options, e.g. -c skydive.yml]
# Without root it still runs, without the lab and without network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo: ours, else (under sudo, whose PATH drops it) the invoking user's.
cargo_bin=$(command -v cargo || true)
if [ -z "$cargo_bin" ] && [ -n "${SUDO_USER:-}" ]; then
  home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
  [ -x "$home/.cargo/bin/cargo" ] && cargo_bin="$home/.cargo/bin/cargo"
fi
if [ -z "$cargo_bin" ]; then
  echo "run.sh: cargo not found; install Rust 1.95 (https://rustup.rs)" >&2
  exit 1
fi

# The web UI's libraries (webui/package-lock.json), embedded in the release binary.
if [ ! -f webui/node_modules/.package-lock.json ] || [ webui/package-lock.json -nt webui/node_modules/.package-lock.json ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "==> installing the web UI's libraries (npm ci in webui/)"
    if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
      (cd webui && sudo -u "$SUDO_USER" -H npm ci --no-audit --no-fund --loglevel=error)
    else
      (cd webui && npm ci --no-audit --no-fund --loglevel=error)
    fi
  else
    echo "==> npm not found: the web UI will say to run npm ci in webui/ (apt-get install npm)" >&2
  fi
fi

echo "==> building skydive (release)"
if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  # Build as the user who ran sudo, so target/ stays theirs.
  sudo -u "$SUDO_USER" -H env "PATH=$(dirname "$cargo_bin"):$PATH" cargo build --release --bin skydive
else
  "$cargo_bin" build --release --bin skydive
fi
bin="${CARGO_TARGET_DIR:-target}/release/skydive"

if [ "$(id -u)" = 0 ]; then
  echo "==> starting the demo lab"
  scripts/demo-lab.sh start
  trap 'echo "==> removing the demo lab"; scripts/demo-lab.sh stop' EXIT
  # With Open vSwitch: the agent watches the lab's OVS and samples its bridge (flows).
  if [ -f /run/skydive-demo/env ]; then
    set -a
    . /run/skydive-demo/env
    set +a
  fi
else
  echo "==> not root: no demo lab, and network namespaces stay invisible (run: sudo scripts/run.sh)"
fi

cat <<'TIP'
==> starting skydive allinone; try, in another terminal:
    open http://127.0.0.1:8082/ (the web UI)
    curl -s localhost:8082/api/status
    curl -s -XPOST localhost:8082/api/topology -d '{"GremlinQuery":"G.V().Has(\"Type\",\"netns\").Values(\"Name\")"}'
    curl -s localhost:8082/rpc/flows   (the demo's pings through the OVS bridge, when OVS is installed)
    Ctrl-C here stops it.
TIP
"$bin" allinone "$@"
