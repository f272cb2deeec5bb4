#!/usr/bin/env bash
# profile.sh: where a request's CPU goes while wrk loads sentstub, the way
# the throughput figures in README.md are measured (wrk, one thread, 32
# connections, the demo fixture, a database in memory, the access log on).
#
# It builds sentstub, starts it with --pprof on loopback, warms it up for
# 2 s, then takes a CPU profile while wrk runs for SECONDS more, and prints
# wrk's figures, the server's CPU per request (from /proc), and the
# profile's heaviest functions. The profile and the binary it names are
# kept in the directory it prints, for `go tool pprof`.
#
# Usage (from anywhere in the checkout):
#   scripts/profile.sh [toggle|keyed|get] [SECONDS]     default: toggle 10
# toggle: PATCH toggle-status, alternating is_active, no key; keyed: the
# same with a fresh Idempotency-Key on every request; get: GET the webhook.
# Needs go, curl, python3 and wrk (apt-get install wrk); Linux (/proc). It
# is not part of make test.
set -euo pipefail

mode=${1:-toggle}
seconds=${2:-10}
case $mode in toggle | keyed | get) ;; *)
	echo "usage: scripts/profile.sh [toggle|keyed|get] [SECONDS]" >&2
	exit 2
	;;
esac
[[ $seconds =~ ^[1-9][0-9]*$ ]] || {
	echo "profile.sh: SECONDS must be a whole number, not '$seconds'" >&2
	exit 2
}
for tool in go curl python3 wrk; do
	command -v "$tool" >/dev/null || {
		echo "profile.sh: $tool not found (wrk: apt-get install wrk)" >&2
		exit 2
	}
done

root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/sentstub-profile.XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null' EXIT

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
(cd "$root" && go build -o "$out/sentstub" ./cmd/sentstub)

api=127.0.0.1:$(port)
prof=127.0.0.1:$(port)
"$out/sentstub" --addr "$api" --db :memory: --pprof "$prof" 2>"$out/sentstub.log" &
pid=$!
for _ in $(seq 100); do
	curl -fs "http://$api/healthz" >/dev/null && break
	sleep 0.1
done
curl -fs "http://$api/healthz" >/dev/null || {
	echo "profile.sh: sentstub did not start; its log:" >&2
	cat "$out/sentstub.log" >&2
	exit 1
}

id=d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8 # the demo fixture's Order Notifications
key=sk_test_acme_org
if [[ $mode == get ]]; then
	url=http://$api/v3/webhooks/$id
	cat >"$out/load.lua" <<EOF
wrk.headers["x-api-key"] = "$key"
EOF
else
	url=http://$api/v3/webhooks/$id/toggle-status
	keyed=false
	[[ $mode == keyed ]] && keyed=true
	cat >"$out/load.lua" <<EOF
local n = 0
request = function()
  n = n + 1
  local headers = {["Content-Type"] = "application/json", ["x-api-key"] = "$key"}
  if $keyed then headers["Idempotency-Key"] = "profile_" .. os.time() .. "_" .. n end
  return wrk.format("PATCH", nil, headers, n % 2 == 0 and '{"is_active": true}' or '{"is_active": false}')
end
EOF
fi

wrk -t1 -c32 -d2s -s "$out/load.lua" "$url" >/dev/null # warm-up
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
before=$(cpu)
curl -fs "http://$prof/debug/pprof/profile?seconds=$seconds" -o "$out/cpu.pprof" &
curl_pid=$!
wrk -t1 -c32 -d"${seconds}s" -s "$out/load.lua" "$url" | tee "$out/wrk.txt"
wait "$curl_pid"
after=$(cpu)
requests=$(awk '/requests in/ { print $1 }' "$out/wrk.txt")
if grep -q 'Non-2xx' "$out/wrk.txt"; then
	echo "profile.sh: some answers were not 2xx: the profile measures errors" >&2
fi
echo
echo "server CPU per request: $(((after - before) * 1000000 / ticks / requests)) us ($requests requests, $mode)"
echo
go tool pprof -top -nodecount=25 "$out/sentstub" "$out/cpu.pprof" 2>/dev/null | sed -n '4,35p'
echo
echo "kept in $out: go tool pprof -http 127.0.0.1:0 $out/sentstub $out/cpu.pprof"
