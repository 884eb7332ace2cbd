#!/usr/bin/env bash
# A small Linux-bridge lab, so a new user sees a topology at once (like Skydive's simple.sh):
#
#   host namespace:  bridge skydemo-br0 ── ports skydemo-v1, skydemo-v2
#   skydemo-ns1:     eth0 10.99.0.1/24  (veth peer of skydemo-v1)
#   skydemo-ns2:     eth0 10.99.0.2/24  (veth peer of skydemo-v2)
#
# Usage (as root): scripts/demo-lab.sh start | stop | status
# `start` replaces a lab left over from an earlier run; `stop` removes everything it made and
# nothing else. Traffic stays between the two namespaces and the bridge.
set -euo pipefail

BR=skydemo-br0
NAMESPACES=(skydemo-ns1 skydemo-ns2)

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "demo-lab: must run as root (it creates network namespaces, veths and a bridge)" >&2
    exit 1
  fi
  command -v ip >/dev/null || { echo "demo-lab: the ip command (iproute2) is missing" >&2; exit 1; }
}

stop() {
  for ns in "${NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || true # takes its eth0 and the host end of the veth
  done
  for i in 1 2; do ip link del "skydemo-v$i" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
}

start() {
  stop
  ip link add "$BR" type bridge
  ip link set "$BR" up
  local i=1
  for ns in "${NAMESPACES[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "skydemo-v$i" type veth peer name eth0 netns "$ns"
    ip link set "skydemo-v$i" master "$BR" up
    ip -n "$ns" addr add "10.99.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    i=$((i + 1))
  done
  echo "demo lab up: bridge $BR, namespaces ${NAMESPACES[*]} (10.99.0.1, 10.99.0.2)"
  if ip netns exec skydemo-ns1 ping -c 1 -W 2 10.99.0.2 >/dev/null 2>&1; then
    echo "skydemo-ns1 reaches skydemo-ns2 through the bridge"
  fi
}

status() {
  ip -br link show "$BR" 2>/dev/null || echo "no bridge $BR"
  for ns in "${NAMESPACES[@]}"; do
    echo "$ns:"
    ip -n "$ns" -br addr 2>/dev/null || echo "  (absent)"
  done
}

case "${1:-}" in
  start) need_root; start ;;
  stop) need_root; stop; echo "demo lab removed" ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
