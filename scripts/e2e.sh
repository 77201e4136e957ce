#!/usr/bin/env bash
# End-to-end tests of the example binaries (nat44, nat64, lsnat) on real kernels: network
# namespaces, TUN devices, real clients and servers (scripts/netns.sh draws the topologies).
# Every test asserts on what the far end received or what the client's kernel reported, so it
# fails when translation breaks; the far hosts have no route back to the inside realms, so
# nothing passes untranslated.
#
#   sudo scripts/e2e.sh            # builds target/release/{nat44,nat64,lsnat} unless
#                                  # NAT44=path NAT64=path LSNAT=path are all given
#   E2E_VERBOSE=1 scripts/e2e.sh   # also show the output of passing tests
#
# Needs: iproute2, iputils-ping, python3 (installed with apt-get when missing), cargo.
# Prints "N passed, M failed" and exits non-zero on any failure. Namespaces are removed on
# exit, whatever happens.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

if [[ $EUID -ne 0 ]]; then
  echo "e2e.sh: run as root (network namespaces, TUN devices)" >&2
  exit 2
fi

need_pkgs=()
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v ping >/dev/null || need_pkgs+=(iputils-ping)
command -v python3 >/dev/null || need_pkgs+=(python3)
if ((${#need_pkgs[@]})); then
  echo "e2e.sh: installing ${need_pkgs[*]}" >&2
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" \
    || { echo "e2e.sh: could not install ${need_pkgs[*]}" >&2; exit 2; }
fi

if [[ -z ${NAT44:-} || -z ${NAT64:-} || -z ${LSNAT:-} ]]; then
  cargo build --release -q -p nat-examples --bin nat44 --bin nat64 --bin lsnat \
    || { echo "e2e.sh: build failed" >&2; exit 2; }
  bindir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release"
  NAT44=${NAT44:-$bindir/nat44}
  NAT64=${NAT64:-$bindir/nat64}
  LSNAT=${LSNAT:-$bindir/lsnat}
fi
for bin in "$NAT44" "$NAT64" "$LSNAT"; do
  [[ -x $bin ]] || { echo "e2e.sh: no binary at $bin" >&2; exit 2; }
done

NS_PREFIX=${NS_PREFIX:-n44e$$-}
STATE=$(mktemp -d /tmp/nat44-e2e-XXXXXX)
TUN=nat44e
TUN64=nat64e
TUNLB=lsnate
# shellcheck source=scripts/netns.sh
source "$ROOT/scripts/netns.sh"
TOOL="python3 $ROOT/scripts/nettool.py"
trap 'ns_down; rm -rf "$STATE"' EXIT
trap 'exit 130' INT TERM

PASSED=0
FAILED=0
FAILED_NAMES=()
# run NAME FUNCTION: a test passes when FUNCTION returns 0; its output is shown on failure
run() {
  local name=$1; shift
  if "$@" >"$STATE/test.out" 2>&1; then
    PASSED=$((PASSED + 1)); echo "PASS $name"
    if [[ -n ${E2E_VERBOSE:-} ]]; then sed 's/^/    | /' "$STATE/test.out" | tail -5; fi
  else
    FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); echo "FAIL $name"
    sed 's/^/    | /' "$STATE/test.out" | tail -25
  fi
}
expect() {  # expect DESCRIPTION COMMAND... : fails the test with DESCRIPTION when COMMAND fails
  local what=$1; shift
  "$@" || { echo "expected: $what"; return 1; }
}

# ---- configurations ------------------------------------------------------------------------
write_config() {  # write_config FILE EXTRA-TOML [nostatic]
  local statics='
[[static]]
proto = "tcp"
inside = "10.0.0.3:8080"
outside = "198.51.100.1:8080"
'
  [[ ${3:-} == nostatic ]] && statics=""
  cat >"$1" <<EOF
[tun]
name = "$TUN"

[nat]
inside = ["10.0.0.0/24"]
pool = ["198.51.100.1/32"]
inside_address = "10.0.0.1"
max_sessions = 16384
$statics
[log]
target = "file"
path = "$STATE/xlat.log"

[runtime]
summary_interval = 1
$2
EOF
}
write_config "$STATE/main.toml" ""
write_config "$STATE/quota.toml" "
[allocation]
mode = \"per-port\"
[allocation.quota]
udp = 3"
write_config "$STATE/blocks.toml" "
[allocation]
mode = \"port-block\"
block_size = 128
max_blocks = 2"
write_config "$STATE/scattered.toml" "
[allocation]
mode = \"port-block\"
block_size = 128
max_blocks = 2
block_layout = \"scattered\"
port_preservation = false
seed = 1234"
write_config "$STATE/determ.toml" "
[allocation]
mode = \"deterministic\"
ports_per_subscriber = 252" nostatic

# Two queues, two workers: A (10.0.0.2) hashes to worker 0, B (10.0.0.3) to worker 1; worker 0
# owns ports 1024-33279, worker 1 33280-65535. B's static mapping is on worker 1's side, so A
# reaching it is a hairpin between workers both ways.
write_config "$STATE/sharded.toml" "" nostatic
sed -i 's/^name = "'"$TUN"'"$/&\nqueues = 2/' "$STATE/sharded.toml"
cat >>"$STATE/sharded.toml" <<EOF
[[static]]
proto = "tcp"
inside = "10.0.0.3:8080"
outside = "198.51.100.1:40000"
EOF

# ---- tests -------------------------------------------------------------------------------
test_usage() {
  local rc=0
  "$NAT44" >"$STATE/usage.out" 2>&1 || rc=$?
  cat "$STATE/usage.out"
  expect "exit code 2" test "$rc" -eq 2 && expect "a usage line" grep -q "usage: nat44 --config FILE" "$STATE/usage.out"
}

test_bad_config() {
  local rc=0
  # line 8 gets a misspelt field, in the [nat] table
  sed '8i hairpining = true' "$STATE/main.toml" >"$STATE/bad.toml"
  nsx "$NS_NAT" "$NAT44" --config "$STATE/bad.toml" >"$STATE/bad.out" 2>&1 || rc=$?
  cat "$STATE/bad.out"
  expect "exit code 2" test "$rc" -eq 2 || return 1
  expect "the line" grep -q "bad.toml:8:" "$STATE/bad.out" || return 1
  expect "the field" grep -q 'field `nat.hairpining`' "$STATE/bad.out" || return 1
  expect "no TUN device created" bash -c "! ip netns exec $NS_NAT ip link show $TUN 2>/dev/null" || return 1
  # a value below an RFC floor
  rc=0
  printf '\n[timeouts]\nudp = 30\n' | cat "$STATE/main.toml" - >"$STATE/bad2.toml"
  nsx "$NS_NAT" "$NAT44" --config "$STATE/bad2.toml" >"$STATE/bad2.out" 2>&1 || rc=$?
  cat "$STATE/bad2.out"
  expect "exit code 2" test "$rc" -eq 2 || return 1
  expect "field timeouts.udp named" grep -q 'field `timeouts.udp`.*RFC 4787' "$STATE/bad2.out"
}

test_ping() {
  nsx "$NS_A" ping -c 3 -i 0.2 -W 2 "$OUT_IP"
}

test_ttl_at_nat_box() {
  nsx "$NS_A" ping -c 1 -W 2 -t 1 "$OUT_IP" | tee "$STATE/ttl1.out"
  expect "Time Exceeded from the nat box" grep -q "From $GW_IP.*Time to live exceeded" "$STATE/ttl1.out"
}

test_ttl_beyond_translator() {
  # TTL 2: the packet is translated, then expires on the nat box's outside; the Time Exceeded
  # goes to the pool address and must be translated back (its quoted packet too) to reach ping
  nsx "$NS_A" ping -c 1 -W 2 -t 2 "$OUT_IP" | tee "$STATE/ttl2.out"
  expect "translated Time Exceeded from $WAN_IP" grep -q "From $WAN_IP.*Time to live exceeded" "$STATE/ttl2.out"
}

test_udp_request_reply() {
  local out
  out=$(nsx "$NS_A" $TOOL udp-request "$OUT_IP" 7 "hello-e2e") || { echo "$out"; return 1; }
  echo "$out"
  expect "far side saw the pool address" grep -q "^echo $POOL_IP:[0-9]* hello-e2e$" <<<"$out"
}

test_icmp_port_unreachable() {
  local rc=0
  nsx "$NS_A" $TOOL udp-request "$OUT_IP" 9 "anyone?" || rc=$?
  expect "ECONNREFUSED (exit 10), got $rc" test "$rc" -eq 10
}

test_tcp_transfer_sha256() {
  head -c 8000000 /dev/urandom >"$STATE/payload.bin"
  local want got line
  want=$(sha256sum "$STATE/payload.bin" | cut -d' ' -f1)
  got=$(nsx "$NS_A" $TOOL tcp-send "$OUT_IP" 5001 "$STATE/payload.bin") || return 1
  line=$(tail -1 "$STATE/sink-out.txt")
  echo "sent $want; server says $got; server log: $line"
  expect "digest from the server" test "$got" = "$want" || return 1
  expect "server log: peer is the pool address, all bytes, same digest" \
    grep -q "^peer $POOL_IP:[0-9]* bytes 8000000 sha256 $want$" <<<"$line"
}

test_hairpin() {  # test_hairpin [OUTSIDE-PORT SOURCE-PORT-REGEX]
  # B listens on 10.0.0.3:8080, statically mapped to 198.51.100.1:OUTSIDE-PORT (8080); A
  # connects to that, and B must see A's outside address with a port matching the regex
  local port=${1:-8080} sport=${2:-[0-9]+}
  head -c 300000 /dev/urandom >"$STATE/hp.bin"
  local want got line
  want=$(sha256sum "$STATE/hp.bin" | cut -d' ' -f1)
  got=$(nsx "$NS_A" $TOOL tcp-send "$POOL_IP" "$port" "$STATE/hp.bin") || return 1
  line=$(tail -1 "$STATE/sink-b.txt")
  echo "B's log: $line"
  expect "B saw A as the pool address (port $sport), same digest" \
    grep -Eq "^peer $POOL_IP:($sport) bytes 300000 sha256 $want$" <<<"$line" && expect "digest" test "$got" = "$want"
}

test_translation_log() {
  sleep 0.3
  grep -E 'SESSION-CREATE \[nat@32473 proto="udp" isrc="10\.0\.0\.2" isport="[0-9]+" tsrc="198\.51\.100\.1" tsport="[0-9]+" dst="203\.0\.113\.2" dport="7"\]' \
    "$STATE/xlat.log" | tail -1 | grep -q '^<134>1 20[0-9-]*T[0-9:.]*Z ' \
    || { echo "no RFC 5424 SESSION-CREATE record for the UDP echo in:"; tail -5 "$STATE/xlat.log"; return 1; }
}

test_sigusr1_dump() {
  kill -USR1 "$(pid_of nat)"
  sleep 0.5
  sed -n '/=== dump/,/=== end of dump/p' "$STATE/nat.log" | tail -60 >"$STATE/dump.out"
  cat "$STATE/dump.out"
  expect "static binding listed" grep -q "tcp 10.0.0.3:8080 <-> 198.51.100.1:8080 static" "$STATE/dump.out" &&
    expect "udp binding listed" grep -q "udp 10.0.0.2:[0-9]* <-> 198.51.100.1:" "$STATE/dump.out" &&
    expect "per-subscriber counters listed" grep -Eq "^  10\.0\.0\.2: bindings [0-9]+/[1-9][0-9]*/[0-9]+, sessions" "$STATE/dump.out"
}

counters() {  # counters [NAME] -> "rx drops replies" from a fresh SIGUSR1 dump of translator NAME
  local name=${1:-nat} d r
  kill -USR1 "$(pid_of "$name")"
  sleep 0.4
  d=$(grep "=== dump" "$STATE/$name.log" | tail -1 | sed -E 's/.* rx ([0-9]+) .*\| drops ([0-9]+).*/\1 \2/')
  r=$(grep "^runtime: " "$STATE/$name.log" | tail -1 | sed -E 's/.* replies ([0-9]+),.*/\1/')
  echo "$d $r"
}

# flood NAME NS DEVICE STILL-WORKS-COMMAND... : 5000 malformed packets into a translator's TUN
# device; it must live, keep translating, and count every packet it read: as a drop, or as an
# ICMP error it answered (NAT64 answers a UDP datagram to pool4 without a binding)
flood() {
  local name=$1 ns=$2 dev=$3; shift 3
  local sent tx0 tx1 rx0 rx1 drops0 drops1 rep0 rep1
  read -r rx0 drops0 rep0 < <(counters "$name")
  tx0=$(nsx "$ns" cat "/sys/class/net/$dev/statistics/tx_packets")
  sent=$(nsx "$ns" $TOOL garbage "$dev" 5000) || return 1
  sleep 0.5
  tx1=$(nsx "$ns" cat "/sys/class/net/$dev/statistics/tx_packets")
  read -r rx1 drops1 rep1 < <(counters "$name")
  expect "translator alive" kill -0 "$(pid_of "$name")" || return 1
  expect "still translating" "$@" >/dev/null || return 1
  echo "sent $sent garbage packets; kernel queued $((tx1 - tx0)) to the TUN; translator read $((rx1 - rx0)), counted $((drops1 - drops0)) drops, answered $((rep1 - rep0)) with ICMP errors"
  expect "most of the flood reached the translator" test $((rx1 - rx0)) -ge $((sent * 8 / 10)) || return 1
  expect "every garbage packet read was counted" test $((drops1 - drops0 + rep1 - rep0)) -eq $((rx1 - rx0))
}

test_malformed_flood() {
  flood nat "$NS_NAT" "$TUN" nsx "$NS_A" ping -c 1 -W 2 "$OUT_IP"
}

test_tun_vanishes() {  # test_tun_vanishes [NAME NS DEVICE]
  local name=${1:-nat} ns=${2:-$NS_NAT} dev=${3:-$TUN} pid rc=0
  pid=$(pid_of "$name")
  nsx "$ns" ip link del "$dev"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  expect "translator exited" bash -c "! kill -0 $pid 2>/dev/null" || return 1
  wait "$pid" || rc=$?
  rm -f "$STATE/$name.pid"
  tail -3 "$STATE/$name.log"
  expect "exit code 3, got $rc" test "$rc" -eq 3 || return 1
  expect "a message" grep -q "TUN device vanished" "$STATE/$name.log" || return 1
  expect "no panic" bash -c "! grep -q panicked '$STATE/$name.log'"
}

test_quota_exhaustion() {
  local i rc
  for i in 1 2 3; do
    nsx "$NS_A" $TOOL udp-request "$OUT_IP" 7 "flow-$i" $((41000 + i)) || { echo "flow $i failed"; return 1; }
  done
  rc=0
  nsx "$NS_A" $TOOL udp-request "$OUT_IP" 7 "flow-4" 41004 || rc=$?
  expect "4th flow refused by ICMP Destination Unreachable (EHOSTUNREACH, exit 11), got $rc" test "$rc" -eq 11 || return 1
  sleep 0.3
  expect "QUOTA-EXHAUSTED logged" grep -q 'QUOTA-EXHAUSTED .*proto="udp" isrc="10.0.0.2"' "$STATE/xlat.log"
}

test_clean_shutdown() {  # test_clean_shutdown [NAME]
  local name=${1:-nat} rc=0
  stop "$name" TERM || rc=$?
  tail -2 "$STATE/$name.log"
  expect "exit code 0 after SIGTERM, got $rc" test "$rc" -eq 0 && expect "a last word" grep -q "stopped by signal 15" "$STATE/$name.log"
}

test_mode() {  # test_mode CONFIG LOG-PATTERN
  nat_start nat "$STATE/$1" || return 1
  local out
  out=$(nsx "$NS_A" $TOOL udp-request "$OUT_IP" 7 "mode-$1") || { echo "$out"; nat_stop nat; return 1; }
  echo "$out"
  sleep 0.3
  local ok=0
  grep -q "^echo $POOL_IP:[0-9]* mode-$1$" <<<"$out" || { echo "not translated"; ok=1; }
  if [[ -n $2 ]]; then grep -q "$2" "$STATE/xlat.log" || { echo "no '$2' log record"; ok=1; }; fi
  nat_stop nat || { echo "bad exit"; ok=1; }
  return $ok
}

# Scattered port blocks (RFC 7269 § 5.1): 10 flows of one subscriber, all in its one block of
# 128, must not sit in 128 consecutive ports; `nat44 --who` must name, for each port, a block
# that a PORT-BLOCK-ALLOC record logged as scattered.
test_scattered_blocks() {
  local i out port ports=() ok=0 mark
  mark=$(cat "$STATE/xlat.log" 2>/dev/null | wc -l)  # the log is appended to: read only this run's
  nat_start nat "$STATE/scattered.toml" || return 1
  for i in $(seq 1 10); do
    out=$(nsx "$NS_A" $TOOL udp-request "$OUT_IP" 7 "scatter-$i" $((43000 + i))) || { echo "flow $i: $out"; ok=1; break; }
    port=$(sed -nE "s/^echo $POOL_IP:([0-9]+) scatter-$i$/\1/p" <<<"$out")
    [[ -n $port ]] || { echo "flow $i not translated: $out"; ok=1; break; }
    ports+=("$port")
  done
  sleep 0.3
  nat_stop nat || { echo "bad exit"; ok=1; }
  ((ok == 0)) || return 1
  local sorted lo hi first
  sorted=$(printf '%s\n' "${ports[@]}" | sort -n)
  lo=$(head -1 <<<"$sorted") hi=$(tail -1 <<<"$sorted")
  echo "ports: ${ports[*]} (spread $lo-$hi)"
  expect "ports spread over more than one block's width" test $((hi - lo)) -ge 128 || return 1
  tail -n +$((mark + 1)) "$STATE/xlat.log" >"$STATE/scattered.log"
  for port in "${ports[@]}"; do
    out=$("$NAT44" --config "$STATE/scattered.toml" --who "$POOL_IP:$port") || { echo "$out"; return 1; }
    echo "$out"
    first=$(sed -nE 's/.*tsport="([0-9]+)".*/\1/p' <<<"$out")
    expect "a logged block holds port $port" \
      grep -q "PORT-BLOCK-ALLOC .*tsrc=\"$POOL_IP\" tsport=\"$first\" .*tslayout=\"scattered\"" "$STATE/scattered.log" || return 1
  done
}

# sharded_udp_flows NS FIRST-PORT LAST-PORT : 30 UDP flows from NS; every echo must come back,
# translated to a pool port in the slice of the subscriber's worker
sharded_udp_flows() {
  local ns=$1 lo=$2 hi=$3 i out port
  for i in $(seq 1 30); do
    out=$(nsx "$ns" $TOOL udp-request "$OUT_IP" 7 "shard-$i" $((42000 + i))) || { echo "flow $i: $out"; return 1; }
    port=$(sed -nE "s/^echo $POOL_IP:([0-9]+) shard-$i$/\1/p" <<<"$out")
    [[ -n $port ]] || { echo "flow $i not translated: $out"; return 1; }
    ((port >= lo && port <= hi)) || { echo "flow $i got port $port, outside $lo-$hi"; return 1; }
  done
  echo "30 flows from $ns, all on ports $lo-$hi"
}

test_sharded_flows() {
  sharded_udp_flows "$NS_A" 1024 33279 && sharded_udp_flows "$NS_B" 33280 65535 &&
    nsx "$NS_A" ping -c 2 -i 0.2 -W 2 "$OUT_IP" && nsx "$NS_B" ping -c 2 -i 0.2 -W 2 "$OUT_IP"
}

test_sharded_handoffs_counted() {
  kill -USR1 "$(pid_of nat)"
  sleep 0.5
  local lines out=0 dropped=0 l
  lines=$(grep -E '=== dump at .*handoff' "$STATE/nat.log" | tail -2)
  echo "$lines"
  expect "two workers dumped" test "$(grep -c handoff <<<"$lines")" -eq 2 || return 1
  while read -r l; do
    out=$((out + $(sed -E 's/.*handoff out ([0-9]+) .*/\1/' <<<"$l")))
    dropped=$((dropped + $(sed -E 's/.*handoff out [0-9]+ in [0-9]+ dropped ([0-9]+) .*/\1/' <<<"$l")))
  done <<<"$lines"
  echo "handed off $out packets between workers, $dropped dropped"
  expect "packets were handed between workers" test "$out" -gt 0 && expect "none dropped" test "$dropped" -eq 0
}

# ---- NAT64 ---------------------------------------------------------------------------------
POOL6_OUT=64:ff9b::203.0.113.2  # the IPv4 host, as the IPv6 host sees it (RFC 6052)
cat >"$STATE/nat64.toml" <<EOF
[tun]
name = "$TUN64"

[nat64]
mode = "stateful"
pool4 = ["198.51.100.1/32"]
# 203.0.113.0/24 is a documentation range: non-global, so RFC 6052 § 3.1 would refuse it
wkp_non_global_rule = false
max_sessions = 16384

[log]
target = "file"
path = "$STATE/xlat64.log"

[runtime]
summary_interval = 1
EOF
cat >"$STATE/siit.toml" <<EOF
[tun]
name = "$TUN64"
queues = 2                 # stateless: each worker translates what its queue reads

[nat64]
mode = "siit"
pool6 = "64:ff9b::/96"
wkp_non_global_rule = false

[[nat64.eam]]
ipv4 = "198.51.100.2/32"
ipv6 = "$H6_IP/128"

[log]
target = "none"
EOF

test_nat64_usage_and_bad_config() {
  local rc=0
  "$NAT64" >"$STATE/usage64.out" 2>&1 || rc=$?
  cat "$STATE/usage64.out"
  expect "exit code 2 without arguments, got $rc" test "$rc" -eq 2 || return 1
  expect "a usage line" grep -q "usage: nat64 --config FILE" "$STATE/usage64.out" || return 1
  # line 6 gets a misspelt field, in the [nat64] table
  sed '6i pool_4 = ["198.51.100.1/32"]' "$STATE/nat64.toml" >"$STATE/bad64.toml"
  rc=0
  nsx "$NS_X64" "$NAT64" --config "$STATE/bad64.toml" >"$STATE/bad64.out" 2>&1 || rc=$?
  cat "$STATE/bad64.out"
  expect "exit code 2, got $rc" test "$rc" -eq 2 || return 1
  expect "the line" grep -q "bad64.toml:6:" "$STATE/bad64.out" || return 1
  expect "the field" grep -q 'field `nat64.pool_4`' "$STATE/bad64.out" || return 1
  expect "no TUN device created" bash -c "! ip netns exec $NS_X64 ip link show $TUN64 2>/dev/null" || return 1
  # a timer below the RFC 6146 floor, in its own table at the end
  rc=0
  printf '\n[nat64.timeouts]\nudp = 60\n' | cat "$STATE/nat64.toml" - >"$STATE/bad64b.toml"
  local line; line=$(grep -n '^udp = 60' "$STATE/bad64b.toml" | cut -d: -f1)
  nsx "$NS_X64" "$NAT64" --config "$STATE/bad64b.toml" >"$STATE/bad64b.out" 2>&1 || rc=$?
  cat "$STATE/bad64b.out"
  expect "exit code 2, got $rc" test "$rc" -eq 2 || return 1
  expect "field nat64.timeouts.udp named with its line $line" grep -q "bad64b.toml:$line:.*field \`nat64.timeouts.udp\`" "$STATE/bad64b.out"
}

test_nat64_ping6() {
  nsx "$NS_H6" ping -6 -c 3 -i 0.2 -W 2 "$POOL6_OUT"
}

test_nat64_udp() {
  local out
  out=$(nsx "$NS_H6" $TOOL udp-request "$POOL6_OUT" 7 "hello-nat64") || { echo "$out"; return 1; }
  echo "$out"
  expect "the IPv4 host saw the pool4 address" grep -q "^echo $POOL_IP:[0-9]* hello-nat64$" <<<"$out"
}

test_nat64_tcp_sha256() {
  head -c 4000000 /dev/urandom >"$STATE/payload64.bin"
  local want got line
  want=$(sha256sum "$STATE/payload64.bin" | cut -d' ' -f1)
  got=$(nsx "$NS_H6" $TOOL tcp-send "$POOL6_OUT" 5001 "$STATE/payload64.bin") || return 1
  line=$(tail -1 "$STATE/sink-o4.txt")
  echo "sent $want; server says $got; server log: $line"
  expect "digest from the IPv4 server" test "$got" = "$want" || return 1
  expect "server log: peer is the pool4 address, all bytes, same digest" \
    grep -q "^peer $POOL_IP:[0-9]* bytes 4000000 sha256 $want$" <<<"$line"
}

test_nat64_log() {
  sleep 0.3
  grep -E 'SESSION-CREATE \[nat@32473 proto="tcp" isrc="2001:db8:1::2" isport="[0-9]+" tsrc="198\.51\.100\.1" tsport="[0-9]+" dst="203\.0\.113\.2" dport="5001"\]' \
    "$STATE/xlat64.log" | tail -1 | grep -q '^<134>1 20[0-9-]*T[0-9:.]*Z ' \
    || { echo "no SESSION-CREATE record of the IPv6 host's TCP session in:"; tail -5 "$STATE/xlat64.log"; return 1; }
}

test_nat64_flood() {
  flood nat64 "$NS_X64" "$TUN64" nsx "$NS_H6" ping -6 -c 1 -W 2 "$POOL6_OUT"
}

test_siit_eam() {
  nat64_start siit "$STATE/siit.toml" || return 1
  local out ok=0
  local i
  for i in $(seq 1 8); do
    out=$(nsx "$NS_H6" $TOOL udp-request "$POOL6_OUT" 7 "hello-siit-$i" $((43000 + i))) || ok=1
    echo "$out"
    if ((ok == 0)) && ! grep -q "^echo 198.51.100.2:$((43000 + i)) hello-siit-$i$" <<<"$out"; then
      echo "expected: the IPv4 host saw the EAM address 198.51.100.2, port kept"; ok=1
    fi
  done
  nsx "$NS_H6" ping -6 -c 2 -i 0.2 -W 2 "$POOL6_OUT" || { echo "expected: ping through SIIT"; ok=1; }
  stop siit TERM || { echo "bad exit"; ok=1; }
  grep -E "^nat64\[[01]\]: up" "$STATE/siit.log" | tail -2
  expect "a summary from each of the two workers" \
    grep -q '^nat64\[0\]: up' "$STATE/siit.log" && grep -q '^nat64\[1\]: up' "$STATE/siit.log" || ok=1
  return $ok
}

# ---- LSNAT ---------------------------------------------------------------------------------
PROBE_INTERVAL=1
PROBE_TIMEOUT_MS=500
PROBE_FALL=2
write_lsnat_config() {  # write_lsnat_config FILE
  {
    cat <<EOF
[tun]
name = "$TUNLB"

[lsnat]
mode = "lsnat"
max_sessions = 4096

[lsnat.probe]
interval = $PROBE_INTERVAL
timeout_ms = $PROBE_TIMEOUT_MS

[[lsnat.virtual_server]]
address = "$VIP"
services = [{ proto = "tcp", port = 8080 }]
algorithm = "round-robin"

[lsnat.virtual_server.health]
detection_time = 3
retry_pause = 60
fall = $PROBE_FALL
rise = 2
EOF
    local ip
    for ip in "${SRV_IPS[@]}"; do printf '\n[[lsnat.virtual_server.server]]\naddress = "%s"\n' "$ip"; done
    cat <<EOF

[log]
target = "file"
path = "$STATE/xlatlb.log"

[runtime]
summary_interval = 1
EOF
  } >"$1"
}
write_lsnat_config "$STATE/lsnat.toml"

clients_of() {  # clients_of I -> connections server I got from the client (probes come from the router)
  grep -c "^peer $OUT_IP:" "$STATE/sink-s$1.txt" 2>/dev/null || true
}

test_lsnat_bad_config() {
  local rc=0 line
  line=$(grep -n '^algorithm' "$STATE/lsnat.toml" | cut -d: -f1)
  sed 's/^algorithm = "round-robin"/algorithm = "round-robbin"/' "$STATE/lsnat.toml" >"$STATE/badlb.toml"
  nsx "$NS_LB" "$LSNAT" --config "$STATE/badlb.toml" >"$STATE/badlb.out" 2>&1 || rc=$?
  cat "$STATE/badlb.out"
  expect "exit code 2, got $rc" test "$rc" -eq 2 || return 1
  expect "the line ($line)" grep -q "badlb.toml:$line:" "$STATE/badlb.out" || return 1
  expect "the field" grep -q 'field `lsnat.virtual_server.algorithm`.*round-robbin' "$STATE/badlb.out" || return 1
  expect "no TUN device created" bash -c "! ip netns exec $NS_LB ip link show $TUNLB 2>/dev/null" || return 1
  rc=0
  "$LSNAT" >"$STATE/usagelb.out" 2>&1 || rc=$?
  expect "exit code 2 without arguments, got $rc" test "$rc" -eq 2 || return 1
  expect "a usage line" grep -q "usage: lsnat --config FILE" "$STATE/usagelb.out"
}

test_lsnat_round_robin() {
  local out i n
  out=$(nsx "$NS_CL" $TOOL tcp-many "$VIP" 8080 30) || { echo "$out"; return 1; }
  echo "client: $out"
  sleep 0.3
  for i in 1 2 3; do
    n=$(clients_of "$i")
    echo "server ${SRV_IPS[$((i - 1))]} got $n connections from the client $OUT_IP"
    expect "round robin: exactly 10 on server $i" test "$n" -eq 10 || return 1
  done
}

test_lsnat_dead_server_avoided() {
  local t0 t1 elapsed bound out before1 before2 before3 i
  before1=$(clients_of 1); before2=$(clients_of 2); before3=$(clients_of 3)
  # detection: PROBE_FALL failed rounds, a connect timeout, and the worker's 1 s housekeeping
  bound=$((PROBE_INTERVAL * PROBE_FALL * 1000 + PROBE_TIMEOUT_MS + 2000))
  t0=$(date +%s%3N)
  stop sink-s2 TERM || true
  for _ in $(seq 100); do
    grep -q "SERVER-DEAD \[lsnat@32473 server=\"${SRV_IPS[1]}\"\]" "$STATE/xlatlb.log" && break
    sleep 0.1
  done
  t1=$(date +%s%3N)
  elapsed=$((t1 - t0))
  grep "SERVER-DEAD" "$STATE/xlatlb.log" | tail -1
  expect "SERVER-DEAD logged for ${SRV_IPS[1]}" grep -q "SERVER-DEAD \[lsnat@32473 server=\"${SRV_IPS[1]}\"\]" "$STATE/xlatlb.log" || return 1
  echo "server ${SRV_IPS[1]} stopped; declared dead after ${elapsed} ms (bound ${bound} ms)"
  expect "detected within ${bound} ms" test "$elapsed" -le "$bound" || return 1
  expect "a note on stderr" grep -q "server ${SRV_IPS[1]} is dead (probes failed)" "$STATE/lsnat.log" || return 1
  out=$(nsx "$NS_CL" $TOOL tcp-many "$VIP" 8080 12) || { echo "$out"; return 1; }
  echo "client after the failure: $out"
  sleep 0.3
  for i in 1 2 3; do echo "server ${SRV_IPS[$((i - 1))]}: $(clients_of "$i") connections"; done
  expect "no new connection to the stopped server" test "$(clients_of 2)" -eq "$before2" || return 1
  expect "server 1 still answers" test "$(clients_of 1)" -gt "$before1" || return 1
  expect "server 3 still answers" test "$(clients_of 3)" -gt "$before3" || return 1
  expect "the two others share evenly (round robin)" test $(($(clients_of 1) - before1)) -eq 6
}

test_lsnat_dump() {
  kill -USR1 "$(pid_of lsnat)"
  sleep 0.5
  sed -n '/=== dump/,/=== end of dump/p' "$STATE/lsnat.log" | tail -12 >"$STATE/dumplb.out"
  cat "$STATE/dumplb.out"
  expect "stopped server listed as dead" grep -q "server ${SRV_IPS[1]} weight 1 active dead" "$STATE/dumplb.out" &&
    expect "live server listed with its bindings" grep -q "server ${SRV_IPS[0]} weight 1 active alive: sessions [0-9]* bindings 16" "$STATE/dumplb.out"
}

test_ls_napt() {
  sed -e 's/^mode = "lsnat"/mode = "ls-napt"\nrouter = "198.51.100.1"/' "$STATE/lsnat.toml" >"$STATE/lsnapt.toml"
  # the stopped server is back
  bg sink-s2 "${NS_SRV[1]}" $TOOL tcp-sink 8080 "$STATE/sink-s2.txt"
  sleep 0.3
  lsnat_start lsnapt "$STATE/lsnapt.toml" || return 1
  local out i n ok=0
  out=$(nsx "$NS_CL" $TOOL tcp-many "$VIP" 8080 6) || { echo "$out"; stop lsnapt TERM; return 1; }
  echo "client: $out"
  sleep 0.3
  for i in 1 2 3; do
    n=$(grep -c "^peer 198.51.100.1:" "$STATE/sink-s$i.txt" || true)
    echo "server ${SRV_IPS[$((i - 1))]} got $n connections from the router address 198.51.100.1"
    [[ $n -eq 2 ]] || { echo "expected: 2 (round robin, client rewritten to the router)"; ok=1; }
  done
  return $ok
}

test_lsnat_flood() {
  flood lsnat "$NS_LB" "$TUNLB" nsx "$NS_CL" $TOOL tcp-many "$VIP" 8080 1
}

# ---- run ---------------------------------------------------------------------------------
say "e2e: binary $NAT44, namespaces ${NS_PREFIX}*, state $STATE"
ns_up || { echo "could not build the topology"; exit 1; }
bg udp-echo "$NS_OUT" $TOOL udp-echo 7
bg sink-out "$NS_OUT" $TOOL tcp-sink 5001 "$STATE/sink-out.txt"
bg sink-b "$NS_B" $TOOL tcp-sink 8080 "$STATE/sink-b.txt"
sleep 0.5

run usage_line_on_wrong_args test_usage
run bad_config_names_line_and_field test_bad_config
if nat_start nat "$STATE/main.toml"; then
  run ping test_ping
  run ttl_expiry_at_nat_box test_ttl_at_nat_box
  run ttl_expiry_beyond_translator_icmp_error_translated test_ttl_beyond_translator
  run udp_request_reply test_udp_request_reply
  run icmp_port_unreachable_gives_econnrefused test_icmp_port_unreachable
  run tcp_transfer_sha256_end_to_end test_tcp_transfer_sha256
  run hairpinning_via_static_mapping test_hairpin
  run translation_log_rfc5424_record test_translation_log
  run sigusr1_dumps_session_table test_sigusr1_dump
  run malformed_packet_flood_counted_not_fatal test_malformed_flood
  run tun_device_vanishes_exit_code_3 test_tun_vanishes
else
  run translator_starts false
fi
if nat_start nat "$STATE/quota.toml"; then
  run quota_exhaustion_icmp_unreachable test_quota_exhaustion
  run sigterm_clean_shutdown test_clean_shutdown
else
  run translator_starts_with_quota false
fi
if nat_start nat "$STATE/sharded.toml"; then
  run sharded_two_workers_udp_flows_in_their_port_slices test_sharded_flows
  # A hairpin that crosses workers: A (worker 0) to B's static mapping on worker 1's port 40000;
  # B must see a source port of worker 0's slice, 1024-33279
  run sharded_hairpin_between_workers_sha256 test_hairpin 40000 '[1-9][0-9]{3}|[12][0-9]{4}|3[0-2][0-9]{3}'
  run sharded_tcp_transfer_sha256 test_tcp_transfer_sha256
  run sharded_handoffs_counted_none_dropped test_sharded_handoffs_counted
  run sharded_sigterm_clean_shutdown test_clean_shutdown
else
  run sharded_translator_starts false
fi
run port_block_mode_translates_and_logs_blocks test_mode blocks.toml "PORT-BLOCK-ALLOC"
run port_block_scattered_spread_and_who_names_the_logged_block test_scattered_blocks
run deterministic_mode_translates test_mode determ.toml ""

# NAT64: IPv6-only host -> IPv4-only host
if ns64_up; then
  bg udp-echo-o4 "$NS_O4" $TOOL udp-echo 7
  bg sink-o4 "$NS_O4" $TOOL tcp-sink 5001 "$STATE/sink-o4.txt"
  sleep 0.5
  run nat64_usage_and_bad_config_names_line_and_field test_nat64_usage_and_bad_config
  if nat64_start nat64 "$STATE/nat64.toml"; then
    run nat64_ping6_to_wkp_address test_nat64_ping6
    run nat64_udp_far_side_sees_pool4 test_nat64_udp
    run nat64_tcp_transfer_sha256_end_to_end test_nat64_tcp_sha256
    run nat64_translation_log_ipv6_session test_nat64_log
    run nat64_malformed_packet_flood_counted test_nat64_flood
    run nat64_sigterm_clean_shutdown test_clean_shutdown nat64
  else
    run nat64_translator_starts false
  fi
  run siit_eam_udp_and_ping test_siit_eam
else
  run nat64_topology false
fi

# LSNAT: one virtual server, three real servers, round robin, active probes
if nslb_up; then
  for i in 1 2 3; do bg "sink-s$i" "${NS_SRV[$((i - 1))]}" $TOOL tcp-sink 8080 "$STATE/sink-s$i.txt"; done
  sleep 0.5
  run lsnat_bad_config_and_usage test_lsnat_bad_config
  if lsnat_start lsnat "$STATE/lsnat.toml"; then
    sleep 1.5  # a first probe round
    run lsnat_round_robin_30_connections_10_each test_lsnat_round_robin
    run lsnat_stopped_server_detected_and_avoided test_lsnat_dead_server_avoided
    run lsnat_sigusr1_dump_shows_server_health test_lsnat_dump
    run lsnat_malformed_packet_flood_counted test_lsnat_flood
    run lsnat_tun_device_vanishes_exit_code_3 test_tun_vanishes lsnat "$NS_LB" "$TUNLB"
    run ls_napt_servers_see_the_router_address test_ls_napt
    run ls_napt_sigterm_clean_shutdown test_clean_shutdown lsnapt
  else
    run lsnat_translator_starts false
  fi
else
  run lsnat_topology false
fi

echo
echo "$PASSED passed, $FAILED failed${FAILED_NAMES[*]:+ (${FAILED_NAMES[*]})}"
if ((FAILED)); then
  for f in nat nat64 siit lsnat lsnapt; do
    [[ -f $STATE/$f.log ]] || continue
    echo "--- $f log (tail):"; tail -20 "$STATE/$f.log"
  done
  exit 1
fi
exit 0
