#!/usr/bin/env bash
# The web UI's browser tests: installs webui/'s npm packages (npm ci: the versions of
# webui/package-lock.json), builds `skydive`, and drives Debian's chromium (playwright-core,
# /usr/bin/chromium) against a real `skydive allinone` on a real lab of network namespaces,
# veths and a Linux bridge (root only: without root those tests are skipped with a message).
# Screenshots and the server's log are kept in webui/test-results/ (git-ignored).
# Also type-checks the UI (npm run check: tsc over the JSDoc of webui/src, nothing emitted).
# Usage: scripts/test.d/webui.sh   (run by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v npm >/dev/null 2>&1; then
  echo "webui: npm is missing (Node.js 20 with npm is needed for the UI tests)" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "webui: /usr/bin/chromium is missing (apt-get install chromium)" >&2
  exit 1
fi

(cd webui && npm ci --no-audit --no-fund --loglevel=error)
cargo build --quiet --bin skydive
if [ "$(id -u)" != 0 ]; then
  echo "webui: not root: the lab tests (namespaces, live changes, history) are skipped"
fi
cd webui
rm -rf test-results
npm run check
npm test
