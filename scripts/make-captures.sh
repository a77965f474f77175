#!/usr/bin/env bash
# Records the test captures in testdata/captures/ with real programs, on a
# private network that exists only for the run:
#
#   namespace llcap-dev-PID 10.203.0.1/24 ──veth── namespace llcap-srv-PID:
#       the device and the apps              10.203.0.53  dnsmasq (Debian's), authoritative
#       (mosquitto_sub, mosquitto_pub),                   broker.iot.example → 10.203.0.10
#       dumpcap recording on dev's veth      10.203.0.10  mosquitto :1883, passwords
#
# Neither namespace has a route beyond 10.203.0.0/24 (no default route) and
# IPv6 is off in both, so no packet leaves the machine and the capture holds
# only what the story sends. Neighbours are static: no ARP in the captures.
#
# Usage (as root; iproute2, dnsmasq, mosquitto, mosquitto-clients, dumpcap):
#
#   scripts/make-captures.sh            # the three lifecycle captures, then
#                                       # the tshark oracle files beside them
#   scripts/make-captures.sh bench FILE [MESSAGES] [CONNS]
#                                       # a long capture for make bench-capture
#
# The lifecycle (each client resolves broker.iot.example first, then logs in
# with a username and password):
#   t=0    device01 connects (keepalive 5 s) and subscribes to devices/device01/cmd
#   t=1    device01-report connects, publishes a reading to
#          devices/device01/telemetry, disconnects
#   t≈5    device01's keepalive fires: PINGREQ, PINGRESP
#   t=7.5  cloud-app connects, publishes a command to devices/device01/cmd;
#          the broker delivers it to device01, which acknowledges it and
#          disconnects (mosquitto_sub -C 1); cloud-app disconnects
#
#   lifecycle-v311-qos1.pcapng  MQTT 3.1.1, QoS 1 everywhere
#   lifecycle-v5-qos1.pcapng    MQTT 5.0, QoS 1, with properties (session
#                               expiry, content type, user property)
#   lifecycle-v311-qos2.pcapng  MQTT 3.1.1, QoS 2 (PUBREC, PUBREL, PUBCOMP)
#
# After recording, `go test ./codec/ -run TestOracleCaptures -update` writes
# each capture's tshark output (NAME.mqtt.tsv, NAME.tcp.tsv) that the codec's
# oracle test compares with, besides running tshark live.
#
# A new recording has the same story but new ports, DNS ids and times. Tests
# that name them must be updated from the new capture (read it with tshark):
# server/dissect_test.go (frame 8's line), server/testdata/trace-capture.golden
# (go test ./server/ -run TestTraceFromCapture -update-trace), and the lane
# heads of e2e/capture_test.go.
#
# The bench mode records, in the same network, MESSAGES QoS 1 messages
# (default 100000) published by CONNS mosquitto_pub -l clients (default 10)
# to topics a mosquitto_sub subscribes to: 4 MQTT packets a message
# (PUBLISH and PUBACK on both legs).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
cd "$(dirname "$0")/.."
repo=$PWD

for cmd in ip dnsmasq mosquitto mosquitto_passwd mosquitto_sub mosquitto_pub dumpcap; do
  command -v "$cmd" >/dev/null || { echo "make-captures: $cmd is not installed (make deps)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "make-captures: network namespaces need root" >&2; exit 1; }

DEV=llcap-dev-$$
SRV=llcap-srv-$$
DEV_IP=10.203.0.1
BROKER_IP=10.203.0.10
DNS_IP=10.203.0.53
DEV_MAC=02:00:0a:cb:00:01
SRV_MAC=02:00:0a:cb:00:0a
work=$(mktemp -d)
chmod 0755 "$work" # mosquitto drops root for the mosquitto user
pids=()

cleanup() {
  rc=$?
  if [ "$rc" -ne 0 ]; then
    for f in "$work"/*.log; do [ -s "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$DEV" 2>/dev/null || true
  ip netns del "$SRV" 2>/dev/null || true
  rm -rf "/etc/netns/$DEV" "$work"
}
trap cleanup EXIT

in_dev() { ip netns exec "$DEV" "$@"; }
in_srv() { ip netns exec "$SRV" "$@"; }

# network builds the two namespaces and starts dnsmasq and mosquitto in srv.
network() {
  ip netns add "$DEV"
  ip netns add "$SRV"
  for ns in "$DEV" "$SRV"; do
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip link add veth0 netns "$DEV" address "$DEV_MAC" type veth peer name veth0 netns "$SRV" address "$SRV_MAC"
  ip -n "$DEV" addr add "$DEV_IP/24" dev veth0
  ip -n "$SRV" addr add "$BROKER_IP/24" dev veth0
  ip -n "$SRV" addr add "$DNS_IP/24" dev veth0
  ip -n "$DEV" neigh replace "$BROKER_IP" lladdr "$SRV_MAC" dev veth0 nud permanent
  ip -n "$DEV" neigh replace "$DNS_IP" lladdr "$SRV_MAC" dev veth0 nud permanent
  ip -n "$SRV" neigh replace "$DEV_IP" lladdr "$DEV_MAC" dev veth0 nud permanent
  ip -n "$DEV" link set veth0 up
  ip -n "$SRV" link set veth0 up

  # The device's resolver: ip netns exec bind-mounts this over /etc/resolv.conf.
  mkdir -p "/etc/netns/$DEV"
  printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DNS_IP" >"/etc/netns/$DEV/resolv.conf"
  # Only DNS: no /etc/hosts lookups, no mDNS.
  printf 'hosts: dns\n' >"/etc/netns/$DEV/nsswitch.conf"

  ip netns exec "$SRV" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address="$DNS_IP" --bind-interfaces --port=53 --user=root --pid-file= \
    --local=/iot.example/ --host-record=broker.iot.example,"$BROKER_IP" --log-queries --log-facility=- 2>"$work/dnsmasq.log" &
  pids+=($!)

  mosquitto_passwd -b -c "$work/passwd" device01 device01-secret 2>/dev/null
  mosquitto_passwd -b "$work/passwd" device01-report report-secret
  mosquitto_passwd -b "$work/passwd" cloud-app cloud-secret
  cat >"$work/mosquitto.conf" <<EOF
listener 1883 $BROKER_IP
allow_anonymous false
password_file $work/passwd
persistence false
log_dest stderr
EOF
  if [ "$mode" = bench ]; then
    # The bench's subscriber falls behind its publishers: queue, never drop
    # (mosquitto drops QoS 1 messages beyond 1000 queued by default).
    echo "max_queued_messages 0" >>"$work/mosquitto.conf"
  fi
  chmod 0644 "$work/passwd" "$work/mosquitto.conf"
  ip netns exec "$SRV" mosquitto -c "$work/mosquitto.conf" 2>"$work/mosquitto.log" &
  pids+=($!)
  for _ in $(seq 100); do
    if in_srv bash -c "exec 3<>/dev/tcp/$BROKER_IP/1883" 2>/dev/null; then break; fi
    sleep 0.1
  done
  # The probe above is the srv namespace talking to itself (lo): not on the veth.
}

# record FILE [MB] starts dumpcap on the device's veth, writing FILE, with a
# kernel buffer of MB MiB (dumpcap's default is 2); stop_record ends it.
record() {
  ip netns exec "$DEV" dumpcap -q -B "${2:-2}" -i veth0 -w "$1" 2>"$work/dumpcap.log" &
  rec=$!
  pids+=("$rec")
  # dumpcap has the interface open once the file exists.
  for _ in $(seq 100); do [ -s "$1" ] && break; sleep 0.1; done
  sleep 0.5
}
stop_record() {
  sleep 0.5
  kill -INT "$rec"
  wait "$rec" || true
  grep -h 'dropped' "$work/dumpcap.log" || true
}

# lifecycle VERSION QOS FILE [PROPERTIES...] records the story above.
lifecycle() {
  local v=$1 q=$2 file=$3
  local d_props=() r_props=() c_props=()
  if [ "$v" = mqttv5 ]; then
    d_props=(-D connect session-expiry-interval 60 -D subscribe user-property site lab-1)
    r_props=(-D publish content-type application/json -D publish user-property unit celsius)
    c_props=(-D publish content-type text/plain -D publish message-expiry-interval 30)
  fi
  record "$file"
  ip netns exec "$DEV" mosquitto_sub -V "$v" -h broker.iot.example -p 1883 -i device01 -u device01 -P device01-secret \
    -k 5 -q "$q" -t devices/device01/cmd -C 1 "${d_props[@]}" >"$work/device.out" &
  local sub=$!
  sleep 1
  in_dev mosquitto_pub -V "$v" -h broker.iot.example -p 1883 -i device01-report -u device01-report -P report-secret \
    -q "$q" -t devices/device01/telemetry -m '{"temperature":21.5,"humidity":48}' "${r_props[@]}"
  sleep 6.5
  in_dev mosquitto_pub -V "$v" -h broker.iot.example -p 1883 -i cloud-app -u cloud-app -P cloud-secret \
    -q "$q" -t devices/device01/cmd -m 'reboot' "${c_props[@]}"
  wait "$sub" || { echo "make-captures: the device (mosquitto_sub) failed" >&2; exit 1; }
  stop_record
  [ "$(cat "$work/device.out")" = reboot ] || { echo "make-captures: the device received $(cat "$work/device.out"), want reboot" >&2; exit 1; }
  echo "make-captures: $file ($(stat -c %s "$file") bytes)"
}

# bench FILE MESSAGES CONNS: CONNS clients each publish MESSAGES/CONNS QoS 1
# messages (mosquitto_pub -l, one a line) to a subscriber's topic.
bench() {
  local file=$1 n=$2 conns=$3 per=$(( $2 / $3 ))
  seq "$per" | sed 's/^/reading /' >"$work/lines"
  # A large buffer: with the default 2 MiB, dumpcap lost 0.5% of the packets
  # on a busy machine.
  record "$file" 256
  ip netns exec "$DEV" mosquitto_sub -h broker.iot.example -i bench-sink -u cloud-app -P cloud-secret -q 1 -t 'bench/#' \
    -C "$(( per * conns ))" -W 900 >/dev/null &
  local sub=$!
  sleep 1
  local pubs=()
  for c in $(seq "$conns"); do
    ip netns exec "$DEV" mosquitto_pub -h broker.iot.example -i "bench-$c" -u device01-report -P report-secret -q 1 \
      -t "bench/$c" -l <"$work/lines" &
    pubs+=($!)
  done
  for p in "${pubs[@]}"; do wait "$p"; done
  wait "$sub"
  stop_record
  echo "make-captures: $file ($(stat -c %s "$file") bytes, $((per * conns)) messages over $conns connections)"
}

mode=${1:-all}
network
case "$mode" in
all)
  out=$repo/testdata/captures
  mkdir -p "$out"
  lifecycle mqttv311 1 "$out/lifecycle-v311-qos1.pcapng"
  lifecycle mqttv5 1 "$out/lifecycle-v5-qos1.pcapng"
  lifecycle mqttv311 2 "$out/lifecycle-v311-qos2.pcapng"
  chmod 0644 "$out"/*.pcapng
  go test ./codec/ -count=1 -run '^TestOracleCaptures$' -update
  ;;
bench)
  bench "${2:?bench FILE [MESSAGES] [CONNS]}" "${3:-100000}" "${4:-10}"
  ;;
*)
  echo "usage: $0 [all | bench FILE [MESSAGES] [CONNS]]" >&2
  exit 2
  ;;
esac
