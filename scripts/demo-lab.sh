#!/usr/bin/env bash
# A small lab, so a new user sees a topology and flows at once (like Skydive's simple.sh):
#
#   host namespace:  Linux bridge skydemo-br0 ── ports skydemo-v1, skydemo-v2
#   skydemo-ns1:     eth0 10.99.0.1/24  (veth peer of skydemo-v1)
#   skydemo-ns2:     eth0 10.99.0.2/24  (veth peer of skydemo-v2)
#
# and, when Open vSwitch is installed, an OVS bridge whose traffic Skydive samples (sFlow):
#
#   OVS bridge skydemo-ovs (userspace datapath) ── ports skydemo-v3, skydemo-v4
#   skydemo-ns3:     eth0 10.99.1.1/24  pinging 10.99.1.2 once a second
#   skydemo-ns4:     eth0 10.99.1.2/24
#
# The OVS is the host's when it runs (/var/run/openvswitch/db.sock answers), else a private
# one (ovsdb-server and ovs-vswitchd with their files in /run/skydive-demo/ovs). `start` writes
# the settings the agent needs (ovsdb probe, that OVS, capture every OVS bridge) as
# environment variables to /run/skydive-demo/env, which scripts/run.sh reads.
#
# Usage (as root): scripts/demo-lab.sh start | stop | status
# `start` replaces a lab left over from an earlier run; `stop` removes everything it made and
# nothing else. Traffic stays between the lab's namespaces.
set -euo pipefail

BR=skydemo-br0
OVSBR=skydemo-ovs
NAMESPACES=(skydemo-ns1 skydemo-ns2)
OVS_NAMESPACES=(skydemo-ns3 skydemo-ns4)
RUN=/run/skydive-demo
PRIVATE_OVS=$RUN/ovs
SYSTEM_DB=unix:/var/run/openvswitch/db.sock

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "demo-lab: must run as root (it creates network namespaces, veths and a bridge)" >&2
    exit 1
  fi
  command -v ip >/dev/null || { echo "demo-lab: the ip command (iproute2) is missing" >&2; exit 1; }
}

# ovs-vsctl against the lab's OVS (the address is in $RUN/ovsdb once started).
vsctl() {
  ovs-vsctl --db="$(cat "$RUN/ovsdb")" --timeout=10 "$@"
}

have_ovs() {
  for c in ovsdb-server ovsdb-tool ovs-vswitchd ovs-vsctl ethtool; do
    command -v "$c" >/dev/null || return 1
  done
  [ -f /usr/share/openvswitch/vswitch.ovsschema ]
}

# Starts a private ovsdb-server and ovs-vswitchd; prints the OVSDB address.
start_private_ovs() {
  mkdir -p "$PRIVATE_OVS"
  local d=$PRIVATE_OVS
  ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --pidfile="$d/ovsdb-server.pid" \
    --unixctl="$d/ovsdb-server.ctl" --log-file="$d/ovsdb-server.log" -vconsole:off --detach 2>>"$d/start.log"
  ovs-vsctl --db="unix:$d/db.sock" --no-wait init
  ovs-vswitchd "unix:$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" --unixctl="$d/ovs-vswitchd.ctl" \
    --log-file="$d/ovs-vswitchd.log" -vconsole:off --detach 2>>"$d/start.log"
  echo "unix:$d/db.sock"
}

stop_private_ovs() {
  local d=$PRIVATE_OVS
  for p in ovs-vswitchd ovsdb-server; do
    if [ -f "$d/$p.pid" ]; then
      kill "$(cat "$d/$p.pid")" 2>/dev/null || true
    fi
  done
  sleep 0.3
  rm -rf "$d"
}

stop() {
  if [ -f "$RUN/ping.pid" ]; then
    kill "$(cat "$RUN/ping.pid")" 2>/dev/null || true
  fi
  if [ -f "$RUN/ovsdb" ] && command -v ovs-vsctl >/dev/null; then
    vsctl --if-exists del-br "$OVSBR" 2>/dev/null || true
  fi
  stop_private_ovs
  for ns in "${NAMESPACES[@]}" "${OVS_NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || true # takes its eth0 and the host end of the veth
  done
  for i in 1 2 3 4; do ip link del "skydemo-v$i" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$RUN"
}

# add_ns NS HOST_END ADDR: a namespace whose eth0 is the veth peer of HOST_END.
add_ns() {
  local ns=$1 host=$2 addr=$3
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "$host" type veth peer name eth0 netns "$ns"
  ip -n "$ns" addr add "$addr" dev eth0
  ip -n "$ns" link set eth0 up
}

start_linux_bridge() {
  ip link add "$BR" type bridge
  ip link set "$BR" up
  local i=1
  for ns in "${NAMESPACES[@]}"; do
    add_ns "$ns" "skydemo-v$i" "10.99.0.$i/24"
    ip link set "skydemo-v$i" master "$BR" up
    i=$((i + 1))
  done
  echo "demo lab: Linux bridge $BR, namespaces ${NAMESPACES[*]} (10.99.0.1, 10.99.0.2)"
}

start_ovs_bridge() {
  if ! have_ovs; then
    echo "demo lab: Open vSwitch is not installed, so no flows (apt-get install openvswitch-switch ethtool)"
    return
  fi
  local db
  if ovs-vsctl --db="$SYSTEM_DB" --timeout=2 show >/dev/null 2>&1; then
    db=$SYSTEM_DB
  else
    db=$(start_private_ovs)
  fi
  echo "$db" >"$RUN/ovsdb"
  vsctl --may-exist add-br "$OVSBR" -- set bridge "$OVSBR" datapath_type=netdev
  local i=3
  for ns in "${OVS_NAMESPACES[@]}"; do
    add_ns "$ns" "skydemo-v$i" "10.99.1.$((i - 2))/24"
    ip link set "skydemo-v$i" up
    # The userspace datapath does not fill in checksums a veth left to offload.
    ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
    vsctl --may-exist add-port "$OVSBR" "skydemo-v$i"
    i=$((i + 1))
  done
  ip netns exec skydemo-ns3 ping -q -i 1 10.99.1.2 >/dev/null 2>&1 &
  echo $! >"$RUN/ping.pid"
  cat >"$RUN/env" <<EOF
SKYDIVE_AGENT_TOPOLOGY_PROBES=ovsdb
SKYDIVE_OVS_OVSDB=$db
SKYDIVE_AGENT_FLOW_PROBES=ovssflow
EOF
  echo "demo lab: OVS bridge $OVSBR ($db), namespaces ${OVS_NAMESPACES[*]} (10.99.1.1 pings 10.99.1.2)"
}

start() {
  stop
  mkdir -p "$RUN"
  start_linux_bridge
  start_ovs_bridge
  if ip netns exec skydemo-ns1 ping -c 1 -W 2 10.99.0.2 >/dev/null 2>&1; then
    echo "skydemo-ns1 reaches skydemo-ns2 through the bridge"
  fi
}

status() {
  ip -br link show "$BR" 2>/dev/null || echo "no bridge $BR"
  [ -f "$RUN/ovsdb" ] && echo "OVS: $(cat "$RUN/ovsdb")" && vsctl list-ports "$OVSBR" 2>/dev/null
  for ns in "${NAMESPACES[@]}" "${OVS_NAMESPACES[@]}"; do
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
