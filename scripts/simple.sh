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
#   VM1, VM2  the namespaces' names (default vm1 and vm2)
#   PORT1, PORT2
#             the host ends of their veths, the bridge's ports (default $VM1-eth0 and $VM2-eth0;
#             at most 15 characters)
#   SWITCH_NETNS
#             the namespace ovs-vswitchd runs in, where the host ends go (default: this one).
#             A userspace (netdev) bridge can only use interfaces of its vswitchd's namespace.
#   (The functional tests set these to run many labs side by side, each with a private OVS.)
#
# With the userspace datapath, TCP between the namespaces needs the namespace ends' transmit
# checksum offload off (`ethtool -K eth0 tx off`, done here): without it ping works and TCP
# connections time out.
set -euo pipefail

BRIDGE=${BRIDGE:-br-int}
DATAPATH=${DATAPATH:-netdev}
VM1=${VM1:-vm1}
VM2=${VM2:-vm2}
PORT1=${PORT1:-$VM1-eth0}
PORT2=${PORT2:-$VM2-eth0}
SWITCH_NETNS=${SWITCH_NETNS:-}

die() { echo "simple.sh: $*" >&2; exit 1; }

vsctl() {
  if [ -n "${OVS_DB:-}" ]; then
    ovs-vsctl --db="$OVS_DB" --timeout=10 "$@"
  else
    ovs-vsctl --timeout=10 "$@"
  fi
}

# `ip` in the switch's namespace (the host ends of the veths, the bridge's own interface).
sw_ip() {
  if [ -n "$SWITCH_NETNS" ]; then
    ip -n "$SWITCH_NETNS" "$@"
  else
    ip "$@"
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

add_vm() { # add_vm NAME PORT ADDR
  local vm=$1 port=$2 addr=$3
  [ -e "/var/run/netns/$vm" ] && die "namespace $vm exists already: run \`$0 stop\` first"
  ip netns add "$vm"
  ip link add "$port" type veth peer name eth0 netns "$vm"
  if [ -n "$SWITCH_NETNS" ]; then
    ip link set "$port" netns "$SWITCH_NETNS"
  fi
  sw_ip link set "$port" up
  ip -n "$vm" link set lo up
  ip -n "$vm" link set eth0 up
  ip -n "$vm" address add "$addr" dev eth0
  ip netns exec "$vm" ethtool -K eth0 tx off >/dev/null
  vsctl --may-exist add-port "$BRIDGE" "$port"
}

start() {
  [ $# -ge 1 ] || die "usage: $0 start ADDR1 [ADDR2]   (e.g. 192.168.0.1/24 192.168.0.2/24)"
  need
  set -x
  vsctl --may-exist add-br "$BRIDGE" -- set bridge "$BRIDGE" datapath_type="$DATAPATH"
  sw_ip link set "$BRIDGE" up 2>/dev/null || true
  add_vm "$VM1" "$PORT1" "$1"
  if [ -n "${2:-}" ]; then
    add_vm "$VM2" "$PORT2" "$2"
  fi
  { set +x; } 2>/dev/null
  local peer=${2:-$1}
  echo "lab up: $BRIDGE with $VM1${2:+ and $VM2}; try: ip netns exec $VM1 ping ${peer%/*}"
}

stop() {
  [ "$(id -u)" = 0 ] || die "run as root"
  set -x
  if command -v ovs-vsctl >/dev/null && vsctl --no-wait show >/dev/null 2>&1; then
    vsctl --if-exists del-br "$BRIDGE"
  fi
  for vm in "$VM1:$PORT1" "$VM2:$PORT2"; do
    local ns=${vm%%:*} port=${vm#*:}
    if [ -e "/var/run/netns/$ns" ]; then
      for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
      ip netns del "$ns"
    fi
    sw_ip link del "$port" 2>/dev/null || true
  done
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  *) die "usage: $0 start ADDR1 [ADDR2] | stop" ;;
esac
