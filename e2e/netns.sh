#!/usr/bin/env bash
# Runs a command inside a private network namespace that this script creates: loopback plus a
# veth pair (10.99.0.1 <-> 10.99.0.2) for WebRTC, which needs a non-loopback interface. Nothing
# in the namespace can reach any other network, so no test packet leaves this machine.
set -euo pipefail

if [ "${WEBLOCO_NETNS:-}" != "inside" ]; then
  if [ "$(id -u)" = 0 ]; then
    exec unshare --net env WEBLOCO_NETNS=inside bash "$0" "$@"
  else
    # Unprivileged: a user namespace maps us to root inside so we can configure links.
    exec unshare --map-root-user --net env WEBLOCO_NETNS=inside bash "$0" "$@"
  fi
fi

ip link set lo up
ip link add wl0 type veth peer name wl1
ip addr add 10.99.0.1/24 dev wl0
ip addr add 10.99.0.2/24 dev wl1
ip link set wl0 up
ip link set wl1 up
# Chromium gathers no ICE candidates without a default route (WebRTC then fails); the namespace
# has no other interface, so this route still leads nowhere outside it.
ip route add default via 10.99.0.2 dev wl0
exec "$@"
