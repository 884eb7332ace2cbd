#!/usr/bin/env bash
# Skydive's "multinode" lab, one node at a time: a namespace vm1 whose eth0 is a veth on the
# Open vSwitch bridge br-int, and a GRE port on br-int to the other node. Run it on both
# nodes (each with its own agent) to see the two halves joined by the tunnel in the analyzer:
#
#   node A: scripts/multinode.sh start 192.168.0.1/24 <node B's underlay IP>
#   node B: scripts/multinode.sh start 192.168.0.2/24 <node A's underlay IP>
#   node A: ip netns exec vm1 ping 192.168.0.2
#   both:   scripts/multinode.sh stop
#
# Needs (the script checks and says what is missing):
#   - root;
#   - iproute2 and ethtool: apt-get install -y --no-install-recommends iproute2 ethtool
#   - Open vSwitch running with its default paths (/var/run/openvswitch/db.sock):
#       apt-get install -y --no-install-recommends openvswitch-switch
#       /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random
#
# Environment:
#   BRIDGE       overlay bridge (default br-int)
#   VM           namespace name (default vm1)
#   PORT         the host end of its veth, a port of the bridge (default $VM-eth0; at most 15
#                characters)
#   SWITCH_NETNS the namespace this node's ovs-vswitchd runs in (default: this one): the host
#                end, UNDERLAY_IF and the bridges' own interfaces are there. The functional
#                tests run each "node" as a namespace with its own OVS this way.
#   TUNNEL_TYPE  gre (default), vxlan or geneve
#   DATAPATH     netdev (userspace datapath, the default) or system (kernel module)
#   UNDERLAY_IF, UNDERLAY_IP
#                with the userspace datapath, OVS sends tunnel packets itself and only through
#                an OVS bridge that holds the local underlay address. Set UNDERLAY_IF to the
#                (address-less) interface facing the other node and UNDERLAY_IP to this node's
#                address on it (e.g. UNDERLAY_IF=eth1 UNDERLAY_IP=10.0.0.1/24): the script
#                puts them on a bridge br-ul. Without them the topology is built but the
#                tunnel carries traffic only if such a bridge exists already (or with
#                DATAPATH=system). Never use the interface you are logged in through.
#   OVS_DB       ovsdb-server address for ovs-vsctl (default: OVS's own)
#
# The overlay MTU is set to 1400 to leave room for the tunnel header (large TCP transfers
# stall otherwise), and TCP needs the namespace end's transmit checksum offload off (done).
set -euo pipefail

BRIDGE=${BRIDGE:-br-int}
VM=${VM:-vm1}
PORT=${PORT:-$VM-eth0}
SWITCH_NETNS=${SWITCH_NETNS:-}
TUNNEL_TYPE=${TUNNEL_TYPE:-gre}
DATAPATH=${DATAPATH:-netdev}
UNDERLAY_BRIDGE=br-ul
TUNNEL_PORT=mn-${TUNNEL_TYPE}0

die() { echo "multinode.sh: $*" >&2; exit 1; }

vsctl() {
  if [ -n "${OVS_DB:-}" ]; then
    ovs-vsctl --db="$OVS_DB" --timeout=10 "$@"
  else
    ovs-vsctl --timeout=10 "$@"
  fi
}

# `ip` in the switch's namespace (bridges' interfaces, the underlay, the host end).
sw_ip() {
  if [ -n "$SWITCH_NETNS" ]; then
    ip -n "$SWITCH_NETNS" "$@"
  else
    ip "$@"
  fi
}

need() {
  [ "$(id -u)" = 0 ] || die "run as root (creates a namespace, veths and OVS ports)"
  for c in ip ethtool ovs-vsctl; do
    command -v "$c" >/dev/null || die "\`$c\` not found: apt-get install -y --no-install-recommends iproute2 ethtool openvswitch-switch"
  done
  vsctl --no-wait show >/dev/null 2>&1 ||
    die "cannot reach ovsdb-server (${OVS_DB:-unix:/var/run/openvswitch/db.sock}): start Open vSwitch, e.g. /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random"
  case "$DATAPATH" in netdev|system) ;; *) die "DATAPATH must be netdev or system" ;; esac
  case "$TUNNEL_TYPE" in gre|vxlan|geneve) ;; *) die "TUNNEL_TYPE must be gre, vxlan or geneve" ;; esac
  if [ -n "${UNDERLAY_IF:-}" ] && [ -z "${UNDERLAY_IP:-}" ]; then
    die "UNDERLAY_IF needs UNDERLAY_IP (this node's address/prefix on it)"
  fi
}

start() {
  [ $# -eq 2 ] || die "usage: $0 start ADDR TUNNEL_ENDPOINT   (e.g. 192.168.0.1/24 10.0.0.2)"
  local addr=$1 remote=$2
  need
  [ -e "/var/run/netns/$VM" ] && die "namespace $VM exists already: run \`$0 stop\` first"
  set -x
  if [ -n "${UNDERLAY_IF:-}" ]; then
    vsctl --may-exist add-br "$UNDERLAY_BRIDGE" -- set bridge "$UNDERLAY_BRIDGE" \
      datapath_type="$DATAPATH" external_ids:created-by=multinode.sh
    vsctl --may-exist add-port "$UNDERLAY_BRIDGE" "$UNDERLAY_IF"
    sw_ip link set "$UNDERLAY_IF" up
    sw_ip address add "$UNDERLAY_IP" dev "$UNDERLAY_BRIDGE"
    sw_ip link set "$UNDERLAY_BRIDGE" up
  fi
  vsctl --may-exist add-br "$BRIDGE" -- set bridge "$BRIDGE" datapath_type="$DATAPATH"
  sw_ip link set "$BRIDGE" up 2>/dev/null || true

  ip netns add "$VM"
  ip link add "$PORT" type veth peer name eth0 netns "$VM"
  if [ -n "$SWITCH_NETNS" ]; then
    ip link set "$PORT" netns "$SWITCH_NETNS"
  fi
  sw_ip link set "$PORT" up
  ip -n "$VM" link set lo up
  ip -n "$VM" link set eth0 mtu 1400 up
  ip -n "$VM" address add "$addr" dev eth0
  ip netns exec "$VM" ethtool -K eth0 tx off >/dev/null
  vsctl --may-exist add-port "$BRIDGE" "$PORT"

  vsctl --may-exist add-port "$BRIDGE" "$TUNNEL_PORT" -- set interface "$TUNNEL_PORT" \
    type="$TUNNEL_TYPE" options:remote_ip="$remote"
  { set +x; } 2>/dev/null
  echo "node up: $VM ($addr) on $BRIDGE, $TUNNEL_TYPE tunnel $TUNNEL_PORT to $remote"
  if [ "$DATAPATH" = netdev ] && [ -z "${UNDERLAY_IF:-}" ]; then
    echo "note: userspace datapath without UNDERLAY_IF: the tunnel carries traffic only if $remote is reached through an OVS bridge holding a local address (see the header of $0)"
  fi
}

stop() {
  [ "$(id -u)" = 0 ] || die "run as root"
  set -x
  if command -v ovs-vsctl >/dev/null && vsctl --no-wait show >/dev/null 2>&1; then
    vsctl --if-exists del-br "$BRIDGE"
    if [ "$(vsctl --if-exists get bridge "$UNDERLAY_BRIDGE" external_ids:created-by 2>/dev/null)" = '"multinode.sh"' ]; then
      vsctl --if-exists del-br "$UNDERLAY_BRIDGE"
    fi
  fi
  if [ -e "/var/run/netns/$VM" ]; then
    for pid in $(ip netns pids "$VM"); do kill "$pid" 2>/dev/null || true; done
    ip netns del "$VM"
  fi
  sw_ip link del "$PORT" 2>/dev/null || true
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  *) die "usage: $0 start ADDR TUNNEL_ENDPOINT | stop" ;;
esac
