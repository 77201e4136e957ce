# shellcheck shell=bash
# Network namespaces around the example binaries, sourced by demo.sh and e2e.sh.
#
# NAT44 (ns_up, nat_start):
#
#  [${P}a] eth0 10.0.0.2 --\
#                           br0 10.0.0.1 [${P}nat] wan0 203.0.113.1 --- eth0 203.0.113.2 [${P}out]
#  [${P}b] eth0 10.0.0.3 --/     nat44 on TUN $TUN                       route 198.51.100.0/24
#                                                                        via 203.0.113.1
#
# Inside hosts A and B share a bridge in the nat namespace; every packet from the bridge goes to
# the translator (policy route), and the pool 198.51.100.0/24 is routed into its TUN device.
# The outside host has NO route to 10.0.0.0/24: an untranslated packet cannot get an answer.
#
# NAT64 (ns64_up, nat64_start): an IPv6-only host, a NAT64 box, an IPv4-only host
#
#  [${P}h6] eth0 2001:db8:1::2 --- eth6 2001:db8:1::1 [${P}x64] wan4 203.0.113.1 --- eth0 203.0.113.2 [${P}o4]
#           route ::/0 via ::1          nat64 on TUN $TUN64:                        route 198.51.100.0/24
#                                       64:ff9b::/96 and 198.51.100.0/24 into it    via 203.0.113.1
#
# The IPv4 host has no IPv6 at all and no route to anything but the pool4 prefix.
#
# LSNAT (nslb_up, lsnat_start): a client, a load-sharing router, three real servers
#
#  [${P}cl] eth0 203.0.113.2 --- wan0 203.0.113.1 [${P}lb] br0 10.0.0.1 --+-- eth0 10.0.0.11 [${P}s1]
#           route 198.51.100.0/24 via .1   lsnat on TUN $TUNLB:         +-- eth0 10.0.0.12 [${P}s2]
#                                          VIP 198.51.100.10 into it,   +-- eth0 10.0.0.13 [${P}s3]
#                                          all from br0 into it          (default via 10.0.0.1)
#
# The client has no route to 10.0.0.0/24 and the servers none to it but through the router, so
# a session only works if the translator rewrites both ways.
#
# Only these addresses, only between these namespaces. Run as root.
#
# Everything started here is recorded (pid files under $STATE) and stopped by PID; the
# namespaces are deleted by ns_down, which the callers run from an EXIT trap.

P=${NS_PREFIX:-n44-}
NS_A=${P}a
NS_B=${P}b
NS_NAT=${P}nat
NS_OUT=${P}out
TUN=${TUN:-nat44t}
STATE=${STATE:-$(mktemp -d /tmp/nat44-XXXXXX)}
A_IP=10.0.0.2
B_IP=10.0.0.3
GW_IP=10.0.0.1
WAN_IP=203.0.113.1
OUT_IP=203.0.113.2
POOL_IP=198.51.100.1
POOL_NET=198.51.100.0/24
# NAT64
NS_H6=${P}h6
NS_X64=${P}x64
NS_O4=${P}o4
TUN64=${TUN64:-nat64t}
H6_IP=2001:db8:1::2
X64_IP6=2001:db8:1::1
POOL6_NET=64:ff9b::/96
# LSNAT
NS_CL=${P}cl
NS_LB=${P}lb
NS_SRV=("${P}s1" "${P}s2" "${P}s3")
SRV_IPS=(10.0.0.11 10.0.0.12 10.0.0.13)
TUNLB=${TUNLB:-lsnatt}
VIP=198.51.100.10
ALL_NS=("$NS_A" "$NS_B" "$NS_NAT" "$NS_OUT" "$NS_H6" "$NS_X64" "$NS_O4" "$NS_CL" "$NS_LB" "${NS_SRV[@]}")

say() { echo "[$(date +%T)] $*" >&2; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# bg NAME NS CMD... : start CMD in namespace NS in the background, output to $STATE/NAME.log
bg() {
  local name=$1 ns=$2; shift 2
  ip netns exec "$ns" "$@" >"$STATE/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

pid_of() { cat "$STATE/$1.pid" 2>/dev/null || true; }

# stop NAME [SIGNAL] : stop a process started by bg, by its recorded PID; returns its exit code
stop() {
  local name=$1 sig=${2:-TERM} pid rc=0
  pid=$(pid_of "$name")
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -s "$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  rm -f "$STATE/$name.pid"
  return "$rc"
}

ns_down() {
  local f ns pid
  for f in "$STATE"/*.pid; do
    if [[ -f $f ]]; then stop "$(basename "$f" .pid)" || true; fi
  done
  for ns in "${ALL_NS[@]}"; do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      # whatever still runs in one of OUR namespaces was started by this script
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  return 0
}

ns_up() {
  ns_down
  local ns
  for ns in "$NS_A" "$NS_B" "$NS_NAT" "$NS_OUT"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
  done
  ip link add eth0 netns "$NS_A" type veth peer name lan-a netns "$NS_NAT"
  ip link add eth0 netns "$NS_B" type veth peer name lan-b netns "$NS_NAT"
  ip link add eth0 netns "$NS_OUT" type veth peer name wan0 netns "$NS_NAT"

  nsx "$NS_NAT" ip link add br0 type bridge
  nsx "$NS_NAT" ip link set lan-a master br0
  nsx "$NS_NAT" ip link set lan-b master br0
  nsx "$NS_NAT" ip addr add "$GW_IP/24" dev br0
  nsx "$NS_NAT" ip addr add "$WAN_IP/24" dev wan0
  for d in br0 lan-a lan-b wan0; do nsx "$NS_NAT" ip link set "$d" up; done
  nsx "$NS_NAT" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0 \
    net.ipv4.conf.default.send_redirects=0

  local host ip
  for host in "$NS_A:$A_IP" "$NS_B:$B_IP"; do
    ns=${host%%:*}; ip=${host#*:}
    nsx "$ns" ip addr add "$ip/24" dev eth0
    nsx "$ns" ip link set eth0 up
    nsx "$ns" ip route add default via "$GW_IP"
    nsx "$ns" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
  done
  nsx "$NS_OUT" ip addr add "$OUT_IP/24" dev eth0
  nsx "$NS_OUT" ip link set eth0 up
  nsx "$NS_OUT" ip route add "$POOL_NET" via "$WAN_IP"
  # warm the neighbour caches
  nsx "$NS_A" ping -c1 -W1 "$GW_IP" >/dev/null 2>&1 || true
  nsx "$NS_B" ping -c1 -W1 "$GW_IP" >/dev/null 2>&1 || true
  nsx "$NS_OUT" ping -c1 -W1 "$WAN_IP" >/dev/null 2>&1 || true
}

# xlat_start NAME NS DEVICE BINARY CONFIG : run a translator binary with CONFIG in namespace NS
# and wait for its TUN device DEVICE
xlat_start() {
  local name=$1 ns=$2 dev=$3 bin=$4 conf=$5
  bg "$name" "$ns" "$bin" --config "$conf"
  local pid; pid=$(pid_of "$name")
  for _ in $(seq 100); do
    nsx "$ns" ip link show dev "$dev" >/dev/null 2>&1 && break
    if ! kill -0 "$pid" 2>/dev/null; then
      say "translator exited:"; cat "$STATE/$name.log" >&2; return 1
    fi
    sleep 0.1
  done
  nsx "$ns" ip link show dev "$dev" >/dev/null 2>&1 || { say "no TUN device $dev"; return 1; }
}

# nat_start NAME CONFIG : run the translator (the $NAT44 binary) with CONFIG in the nat
# namespace, wait for its TUN device, and route into it.
nat_start() {
  local name=$1 conf=$2
  xlat_start "$name" "$NS_NAT" "$TUN" "$NAT44" "$conf" || return 1
  nsx "$NS_NAT" sysctl -qw "net.ipv6.conf.$TUN.disable_ipv6=1" 2>/dev/null || true
  # the kernel of the nat box answers Time Exceeded about translated packets from its outside
  # address; translated back, those errors come out of the TUN device with that (local)
  # source address, which the kernel drops unless told otherwise
  nsx "$NS_NAT" sysctl -qw "net.ipv4.conf.$TUN.accept_local=1"
  nsx "$NS_NAT" ip link set "$TUN" up
  # the pool is reached through the translator; what the nat box itself sends there (ICMP
  # errors about translated packets) leaves from its outside address
  nsx "$NS_NAT" ip route replace "$POOL_NET" dev "$TUN" src "$WAN_IP"
  # everything from the subscribers' bridge goes to the translator
  nsx "$NS_NAT" ip route replace default dev "$TUN" table 100
  nsx "$NS_NAT" ip rule del pref 100 2>/dev/null || true
  nsx "$NS_NAT" ip rule add pref 100 iif br0 lookup 100
}

# nat_stop NAME : SIGTERM the translator; returns its exit code
nat_stop() {
  stop "$1" TERM
}

# ---- NAT64 -------------------------------------------------------------------------------------
ns64_up() {
  local ns
  for ns in "$NS_H6" "$NS_X64" "$NS_O4"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
  done
  ip link add eth0 netns "$NS_H6" type veth peer name eth6 netns "$NS_X64"
  ip link add eth0 netns "$NS_O4" type veth peer name wan4 netns "$NS_X64"
  # the IPv6 host: IPv6 only
  nsx "$NS_H6" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
  nsx "$NS_H6" ip -6 addr add "$H6_IP/64" dev eth0 nodad
  nsx "$NS_H6" ip link set eth0 up
  nsx "$NS_H6" ip -6 route add default via "$X64_IP6"
  # the NAT64 box
  nsx "$NS_X64" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0
  nsx "$NS_X64" ip -6 addr add "$X64_IP6/64" dev eth6 nodad
  nsx "$NS_X64" ip addr add "$WAN_IP/24" dev wan4
  nsx "$NS_X64" ip link set eth6 up
  nsx "$NS_X64" ip link set wan4 up
  # the IPv4 host: IPv4 only, a route to pool4 and nothing else
  nsx "$NS_O4" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsx "$NS_O4" ip addr add "$OUT_IP/24" dev eth0
  nsx "$NS_O4" ip link set eth0 up
  nsx "$NS_O4" ip route add "$POOL_NET" via "$WAN_IP"
  nsx "$NS_O4" ping -c1 -W1 "$WAN_IP" >/dev/null 2>&1 || true
  nsx "$NS_H6" ping -6 -c1 -W1 "$X64_IP6" >/dev/null 2>&1 || true
}

# nat64_start NAME CONFIG : run the $NAT64 binary with CONFIG in the NAT64 box, wait for its TUN
# device, and route pool6 and pool4 into it.
nat64_start() {
  local name=$1 conf=$2
  xlat_start "$name" "$NS_X64" "$TUN64" "$NAT64" "$conf" || return 1
  nsx "$NS_X64" sysctl -qw "net.ipv4.conf.$TUN64.accept_local=1" "net.ipv4.conf.$TUN64.rp_filter=0" \
    "net.ipv6.conf.$TUN64.accept_ra=0"
  nsx "$NS_X64" ip link set "$TUN64" up
  nsx "$NS_X64" ip -6 route replace "$POOL6_NET" dev "$TUN64"
  nsx "$NS_X64" ip route replace "$POOL_NET" dev "$TUN64" src "$WAN_IP"
}

# ---- LSNAT -------------------------------------------------------------------------------------
nslb_up() {
  local ns i
  for ns in "$NS_CL" "$NS_LB" "${NS_SRV[@]}"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
  done
  ip link add eth0 netns "$NS_CL" type veth peer name wan0 netns "$NS_LB"
  nsx "$NS_LB" ip link add br0 type bridge
  for i in 0 1 2; do
    ip link add eth0 netns "${NS_SRV[$i]}" type veth peer name "srv$i" netns "$NS_LB"
    nsx "$NS_LB" ip link set "srv$i" master br0
    nsx "$NS_LB" ip link set "srv$i" up
    nsx "${NS_SRV[$i]}" ip addr add "${SRV_IPS[$i]}/24" dev eth0
    nsx "${NS_SRV[$i]}" ip link set eth0 up
    nsx "${NS_SRV[$i]}" ip route add default via "$GW_IP"
  done
  nsx "$NS_LB" ip addr add "$GW_IP/24" dev br0
  nsx "$NS_LB" ip addr add "$WAN_IP/24" dev wan0
  nsx "$NS_LB" ip link set br0 up
  nsx "$NS_LB" ip link set wan0 up
  nsx "$NS_LB" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0 \
    net.ipv4.conf.default.send_redirects=0
  nsx "$NS_CL" ip addr add "$OUT_IP/24" dev eth0
  nsx "$NS_CL" ip link set eth0 up
  nsx "$NS_CL" ip route add "$POOL_NET" via "$WAN_IP"
  nsx "$NS_CL" ping -c1 -W1 "$WAN_IP" >/dev/null 2>&1 || true
  for i in 0 1 2; do nsx "${NS_SRV[$i]}" ping -c1 -W1 "$GW_IP" >/dev/null 2>&1 || true; done
}

# lsnat_start NAME CONFIG : run the $LSNAT binary with CONFIG in the router, wait for its TUN
# device, route the virtual server into it and everything from the servers' bridge.
lsnat_start() {
  local name=$1 conf=$2
  xlat_start "$name" "$NS_LB" "$TUNLB" "$LSNAT" "$conf" || return 1
  nsx "$NS_LB" sysctl -qw "net.ipv6.conf.$TUNLB.disable_ipv6=1" 2>/dev/null || true
  nsx "$NS_LB" sysctl -qw "net.ipv4.conf.$TUNLB.rp_filter=0"
  nsx "$NS_LB" ip link set "$TUNLB" up
  nsx "$NS_LB" ip route replace "$VIP/32" dev "$TUNLB"
  nsx "$NS_LB" ip route replace default dev "$TUNLB" table 101
  nsx "$NS_LB" ip rule del pref 101 2>/dev/null || true
  nsx "$NS_LB" ip rule add pref 101 iif br0 lookup 101
}
