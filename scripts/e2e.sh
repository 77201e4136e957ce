#!/usr/bin/env bash
# End-to-end tests of the nat44 example binary on real kernels: network namespaces, a TUN
# device, real clients and servers (scripts/netns.sh draws the topology). Every test asserts on
# what the far end received or what the client's kernel reported, so it fails when translation
# breaks; the outside host has no route back to 10.0.0.0/24, so nothing passes untranslated.
#
#   sudo scripts/e2e.sh            # builds target/release/nat44 unless NAT44=path is given
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

if [[ -z ${NAT44:-} ]]; then
  cargo build --release -q -p nat-examples --bin nat44 || { echo "e2e.sh: build failed" >&2; exit 2; }
  NAT44="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/nat44"
fi
[[ -x $NAT44 ]] || { echo "e2e.sh: no binary at $NAT44" >&2; exit 2; }

NS_PREFIX=${NS_PREFIX:-n44e$$-}
STATE=$(mktemp -d /tmp/nat44-e2e-XXXXXX)
TUN=nat44e
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
write_config "$STATE/determ.toml" "
[allocation]
mode = \"deterministic\"
ports_per_subscriber = 252" nostatic

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

test_hairpin() {
  # B listens on 10.0.0.3:8080, statically mapped to 198.51.100.1:8080; A connects to that
  head -c 300000 /dev/urandom >"$STATE/hp.bin"
  local want got line
  want=$(sha256sum "$STATE/hp.bin" | cut -d' ' -f1)
  got=$(nsx "$NS_A" $TOOL tcp-send "$POOL_IP" 8080 "$STATE/hp.bin") || return 1
  line=$(tail -1 "$STATE/sink-b.txt")
  echo "B's log: $line"
  expect "B saw A as the pool address, same digest" \
    grep -q "^peer $POOL_IP:[0-9]* bytes 300000 sha256 $want$" <<<"$line" && expect "digest" test "$got" = "$want"
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
  sed -n '/=== dump/,/=== end of dump/p' "$STATE/nat.log" | tail -40 >"$STATE/dump.out"
  cat "$STATE/dump.out"
  expect "static binding listed" grep -q "tcp 10.0.0.3:8080 <-> 198.51.100.1:8080 static" "$STATE/dump.out" &&
    expect "udp binding listed" grep -q "udp 10.0.0.2:[0-9]* <-> 198.51.100.1:" "$STATE/dump.out"
}

counters() {  # counters -> "rx drops" from a fresh SIGUSR1 dump
  kill -USR1 "$(pid_of nat)"
  sleep 0.4
  grep "=== dump" "$STATE/nat.log" | tail -1 | sed -E 's/.* rx ([0-9]+) .*\| drops ([0-9]+).*/\1 \2/'
}

test_malformed_flood() {
  local sent tx0 tx1 rx0 rx1 drops0 drops1
  read -r rx0 drops0 < <(counters)
  tx0=$(nsx "$NS_NAT" cat "/sys/class/net/$TUN/statistics/tx_packets")
  sent=$(nsx "$NS_NAT" $TOOL garbage "$TUN" 5000) || return 1
  sleep 0.5
  tx1=$(nsx "$NS_NAT" cat "/sys/class/net/$TUN/statistics/tx_packets")
  read -r rx1 drops1 < <(counters)
  expect "translator alive" kill -0 "$(pid_of nat)" || return 1
  expect "still translating" nsx "$NS_A" ping -c 1 -W 2 "$OUT_IP" >/dev/null || return 1
  echo "sent $sent garbage packets; kernel queued $((tx1 - tx0)) to the TUN; translator read $((rx1 - rx0)), counted $((drops1 - drops0)) drops"
  expect "most of the flood reached the translator" test $((rx1 - rx0)) -ge $((sent * 8 / 10)) || return 1
  expect "every garbage packet read was counted as a drop" test $((drops1 - drops0)) -eq $((rx1 - rx0))
}

test_tun_vanishes() {
  local pid rc=0
  pid=$(pid_of nat)
  nsx "$NS_NAT" ip link del "$TUN"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  expect "translator exited" bash -c "! kill -0 $pid 2>/dev/null" || return 1
  wait "$pid" || rc=$?
  rm -f "$STATE/nat.pid"
  tail -3 "$STATE/nat.log"
  expect "exit code 3, got $rc" test "$rc" -eq 3 || return 1
  expect "a message" grep -q "TUN device vanished" "$STATE/nat.log" || return 1
  expect "no panic" bash -c "! grep -q panicked '$STATE/nat.log'"
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

test_clean_shutdown() {
  local rc=0
  nat_stop nat || rc=$?
  tail -2 "$STATE/nat.log"
  expect "exit code 0 after SIGTERM, got $rc" test "$rc" -eq 0 && expect "a last word" grep -q "stopped by signal 15" "$STATE/nat.log"
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
run port_block_mode_translates_and_logs_blocks test_mode blocks.toml "PORT-BLOCK-ALLOC"
run deterministic_mode_translates test_mode determ.toml ""

echo
echo "$PASSED passed, $FAILED failed${FAILED_NAMES[*]:+ (${FAILED_NAMES[*]})}"
if ((FAILED)); then
  echo "--- translator log (tail):"; tail -20 "$STATE/nat.log" 2>/dev/null
  exit 1
fi
exit 0
