#!/usr/bin/env bash
# Demo: real traffic through the nat44 example binary, in network namespaces on this machine.
#
#   scripts/demo.sh   (as root)
#
# Installs what it uses (iproute2 iperf3 curl iputils-ping python3) with apt-get when missing,
# builds the release binary (cargo needed), then:
#
#   inside hosts A 10.0.0.2 and B 10.0.0.3  --  nat box running nat44 on a TUN device,
#   pool 198.51.100.1  --  outside host 203.0.113.2 with an HTTP server, an iperf3 server and
#   a UDP echo
#
# and shows ping, curl, a 3-second iperf3 run, a UDP echo, hairpinning (A reaches B's web
# server through B's static mapping), the translation log and the counters. The translator
# runs examples/config/nat44.toml unchanged. Namespaces and processes are removed at the end,
# whatever happens. Only traffic between these namespaces: 10.0.0.0/24 inside, 198.51.100.0/24
# the pool, 203.0.113.0/24 outside.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

if [[ $EUID -ne 0 ]]; then
  echo "demo.sh: run as root (network namespaces, TUN devices)" >&2
  exit 2
fi

# ---- packages -------------------------------------------------------------------------------
declare -A pkg_of=([ip]=iproute2 [iperf3]=iperf3 [curl]=curl [ping]=iputils-ping [python3]=python3)
missing=()
for cmd in "${!pkg_of[@]}"; do command -v "$cmd" >/dev/null || missing+=("${pkg_of[$cmd]}"); done
if ((${#missing[@]})); then
  echo "==> installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "demo.sh: cargo not found (install Rust with rustup first)" >&2; exit 2; }

# ---- build ----------------------------------------------------------------------------------
echo "==> building the release binary"
cargo build --release -q -p nat-examples --bin nat44
NAT44="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/nat44"
CONFIG=$ROOT/examples/config/nat44.toml

# ---- topology -------------------------------------------------------------------------------
NS_PREFIX=${NS_PREFIX:-n44demo-}
STATE=$(mktemp -d /tmp/nat44-demo-XXXXXX)
TUN=$(sed -n 's/^name *= *"\(.*\)".*/\1/p' "$CONFIG" | head -1)
# shellcheck source=scripts/netns.sh
source "$ROOT/scripts/netns.sh"
TOOL="python3 $ROOT/scripts/nettool.py"
cleanup() {
  set +e
  echo "==> removing namespaces ${NS_PREFIX}*"
  ns_down
  rm -rf "$STATE"
}
trap cleanup EXIT

step() { echo; echo "==> $*"; }

step "namespaces: A $A_IP, B $B_IP | nat ($GW_IP / $WAN_IP, pool $POOL_IP on TUN $TUN) | outside $OUT_IP"
ns_up
mkdir -p "$STATE/www-out" "$STATE/www-b"
echo "hello from the outside web server" >"$STATE/www-out/hello.txt"
echo "hello from B, reached through the translator" >"$STATE/www-b/index.html"
bg http-out "$NS_OUT" $TOOL http "$OUT_IP" 8000 "$STATE/www-out"
bg iperf3-out "$NS_OUT" iperf3 -s -B "$OUT_IP" -p 5201
bg udp-echo "$NS_OUT" $TOOL udp-echo 7
bg http-b "$NS_B" $TOOL http "$B_IP" 8080 "$STATE/www-b"

step "starting: nat44 --config examples/config/nat44.toml (in the nat namespace)"
nat_start nat "$CONFIG"
sleep 0.5
sed 's/^/    /' "$STATE/nat.log"

step "ping from A to the outside host"
nsx "$NS_A" ping -c 3 -i 0.3 "$OUT_IP"

step "curl from A to the outside web server"
nsx "$NS_A" curl -sS --max-time 5 "http://$OUT_IP:8000/hello.txt"
echo "    the web server saw the request from:"
grep -h "GET /hello.txt" "$STATE/http-out.log" | sed 's/^/    /'

step "UDP echo from A (the echo names the source it saw)"
nsx "$NS_A" $TOOL udp-request "$OUT_IP" 7 "hello over UDP"

step "iperf3 from A to the outside host, 3 seconds"
nsx "$NS_A" iperf3 -c "$OUT_IP" -p 5201 -t 3 -f m | grep -E "sender|receiver|Connecting"

step "hairpinning: A fetches B's page at B's outside address $POOL_IP:8080 (static mapping)"
nsx "$NS_A" curl -sS --max-time 5 "http://$POOL_IP:8080/"
echo "    B's web server saw the request from:"
grep -h "GET / " "$STATE/http-b.log" | sed 's/^/    /'

step "translation log (RFC 5424, draft-nishitani-cgn section 6.1 fields), first lines"
grep -h '^<134>1 ' "$STATE/nat.log" | head -8 | sed 's/^/    /'
echo "    ... $(grep -c '^<134>1 ' "$STATE/nat.log") records in all"

step "session table (SIGUSR1 dump), first lines"
kill -USR1 "$(pid_of nat)"
sleep 0.5
sed -n '/^table:/,/=== end of dump/p' "$STATE/nat.log" | head -14 | sed 's/^/    /'

step "stopping the translator (SIGTERM): counters summary"
nat_stop nat || echo "    (exit code $?)"
grep -v '^<134>1 ' "$STATE/nat.log" | tail -2 | sed 's/^/    /'
