#!/usr/bin/env bash
# Skydive's "simple" lab: two network namespaces, vm1 and vm2, whose eth0 are veths plugged
# into the Open vSwitch bridge br-int. Start an agent with the ovsdb probe to see it:
# br-int (ovsbridge) -> vm1-eth0/vm2-eth0 (ovsport) -> the veths (one node each, with the
# kernel's and OVS's metadata) -> their peers eth0 in the vm1/vm2 netns nodes.
#
# Usage:
#   scripts/simple.sh start ADDR1 [ADDR2]    e.g. start 192.168.0.1/24 192.168.0.2/24
#   scripts/simple.sh stop
#   then: ip netns exec vm1 ping 192.168.0.2
#
# Needs (the script checks and says what is missing):
#   - root;
#   - iproute2 and ethtool: apt-get install -y --no-install-recommends iproute2 ethtool
#   - Open vSwitch running with its default paths (/var/run/openvswitch/db.sock):
#       apt-get install -y --no-install-recommends openvswitch-switch
#       /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random
#     (where the package's service does not start, e.g. without systemd).
#
# Environment:
#   BRIDGE    bridge name (default br-int)
#   DATAPATH  netdev (userspace datapath, the default: works without the openvswitch kernel
#             module) or system (kernel datapath)
#   OVS_DB    ovsdb-server address for ovs-vsctl (default: OVS's own, unix:/var/run/openvswitch/db.sock)
#
# With the userspace datapath, TCP between the namespaces needs the namespace ends' transmit
# checksum offload off (`ethtool -K eth0 tx off`, done here): without it ping works and TCP
# connections time out.
set -euo pipefail

BRIDGE=${BRIDGE:-br-int}
DATAPATH=${DATAPATH:-netdev}

die() { echo "simple.sh: $*" >&2; exit 1; }

vsctl() {
  if [ -n "${OVS_DB:-}" ]; then
    ovs-vsctl --db="$OVS_DB" --timeout=10 "$@"
  else
    ovs-vsctl --timeout=10 "$@"
  fi
}

need() {
  [ "$(id -u)" = 0 ] || die "run as root (creates namespaces, veths and OVS ports)"
  for c in ip ethtool ovs-vsctl; do
    command -v "$c" >/dev/null || die "\`$c\` not found: apt-get install -y --no-install-recommends iproute2 ethtool openvswitch-switch"
  done
  vsctl --no-wait show >/dev/null 2>&1 ||
    die "cannot reach ovsdb-server (${OVS_DB:-unix:/var/run/openvswitch/db.sock}): start Open vSwitch, e.g. /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random"
  case "$DATAPATH" in
    netdev|system) ;;
    *) die "DATAPATH must be netdev or system, not \`$DATAPATH\`" ;;
  esac
}

add_vm() { # add_vm NAME ADDR
  local vm=$1 addr=$2
  [ -e "/var/run/netns/$vm" ] && die "namespace $vm exists already: run \`$0 stop\` first"
  ip netns add "$vm"
  ip link add "$vm-eth0" type veth peer name eth0 netns "$vm"
  ip link set "$vm-eth0" up
  ip -n "$vm" link set lo up
  ip -n "$vm" link set eth0 up
  ip -n "$vm" address add "$addr" dev eth0
  ip netns exec "$vm" ethtool -K eth0 tx off >/dev/null
  vsctl --may-exist add-port "$BRIDGE" "$vm-eth0"
}

start() {
  [ $# -ge 1 ] || die "usage: $0 start ADDR1 [ADDR2]   (e.g. 192.168.0.1/24 192.168.0.2/24)"
  need
  set -x
  vsctl --may-exist add-br "$BRIDGE" -- set bridge "$BRIDGE" datapath_type="$DATAPATH"
  ip link set "$BRIDGE" up 2>/dev/null || true
  add_vm vm1 "$1"
  if [ -n "${2:-}" ]; then
    add_vm vm2 "$2"
  fi
  { set +x; } 2>/dev/null
  local peer=${2:-$1}
  echo "lab up: $BRIDGE with vm1${2:+ and vm2}; try: ip netns exec vm1 ping ${peer%/*}"
}

stop() {
  [ "$(id -u)" = 0 ] || die "run as root"
  set -x
  if command -v ovs-vsctl >/dev/null && vsctl --no-wait show >/dev/null 2>&1; then
    vsctl --if-exists del-br "$BRIDGE"
  fi
  for vm in vm1 vm2; do
    if [ -e "/var/run/netns/$vm" ]; then
      for pid in $(ip netns pids "$vm"); do kill "$pid" 2>/dev/null || true; done
      ip netns del "$vm"
    fi
    ip link del "$vm-eth0" 2>/dev/null || true
  done
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  *) die "usage: $0 start ADDR1 [ADDR2] | stop" ;;
esac
