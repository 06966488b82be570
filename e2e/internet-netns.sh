#!/usr/bin/env bash
# The "internet" topology of e2e/internet.spec.ts, in network namespaces of its own (root only):
#
#   <p>-pub    the public network: bridge br0, 10.98.0.1/24 (the hubs, coturn, nginx)
#   <p>-nat1   a home router: WAN 10.98.0.11 on br0, LAN 192.168.1.1; masquerade
#   <p>-home1  192.168.1.2, default route via its router
#   <p>-nat2   the same, 10.98.0.12 / 192.168.2.1, for <p>-home2 (192.168.2.2)
#   <p>-nat3   masquerade fully-random (a new port for every destination: a symmetric NAT),
#              10.98.0.13 / 192.168.3.1, for <p>-home3 (192.168.3.2)
#
# Each router drops new connections arriving on its WAN side (`ct state new drop`), as a home
# router does: without that a plain masquerade lets the other side's first check create a
# conntrack entry that later makes it pick a new source port, and no direct link forms
# (docs/ENVIRONMENT measurements). The routers and the public network have no default route, and
# no link leads out of these namespaces: nothing the test sends leaves them.
#
#   internet-netns.sh up <prefix>     build it (removing any left over under that prefix first)
#   internet-netns.sh down <prefix>   end every process still inside and delete the namespaces
set -euo pipefail

action="${1:?usage: internet-netns.sh up|down <prefix>}"
p="${2:?usage: internet-netns.sh up|down <prefix>}"
namespaces=("$p-home1" "$p-home2" "$p-home3" "$p-nat1" "$p-nat2" "$p-nat3" "$p-pub")

down() {
  for ns in "${namespaces[@]}"; do
    ip netns list | grep -qw "^$ns" || continue
    # Whatever the test started in there and did not stop (a browser's helpers, a server).
    for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  done
}

up() {
  down
  for ns in "${namespaces[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  ip -n "$p-pub" link add br0 type bridge
  ip -n "$p-pub" addr add 10.98.0.1/24 dev br0
  ip -n "$p-pub" link set br0 up
  for i in 1 2 3; do
    local nat="$p-nat$i" home="$p-home$i"
    # WAN: the router's end in its namespace, the other end a port of the public bridge.
    ip -n "$nat" link add wan type veth peer name "nat$i" netns "$p-pub"
    ip -n "$p-pub" link set "nat$i" master br0 up
    ip -n "$nat" addr add "10.98.0.1$i/24" dev wan
    ip -n "$nat" link set wan up
    # LAN: the router and one home.
    ip -n "$nat" link add lan type veth peer name eth0 netns "$home"
    ip -n "$nat" addr add "192.168.$i.1/24" dev lan
    ip -n "$nat" link set lan up
    ip -n "$home" addr add "192.168.$i.2/24" dev eth0
    ip -n "$home" link set eth0 up
    ip -n "$home" route add default via "192.168.$i.1" dev eth0
    ip netns exec "$nat" sysctl -qw net.ipv4.ip_forward=1
    local masquerade="masquerade"
    [ "$i" = 3 ] && masquerade="masquerade fully-random"
    ip netns exec "$nat" nft -f - <<EOF
table ip nat {
  chain postrouting { type nat hook postrouting priority srcnat; oifname "wan" $masquerade; }
}
table inet filter {
  chain input { type filter hook input priority filter; iifname "wan" ct state new drop; }
  chain forward { type filter hook forward priority filter; iifname "wan" ct state new drop; }
}
EOF
  done
}

case "$action" in
  up) up ;;
  down) down ;;
  *) echo "usage: internet-netns.sh up|down <prefix>" >&2; exit 2 ;;
esac
