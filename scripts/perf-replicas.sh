#!/usr/bin/env bash
# perf-replicas.sh: throughput of 1, 2 and 4 sentstub replicas sharing one
# PostgreSQL database, and PostgreSQL's own ceiling for the same statements
# on the same machine, which no number of replicas can pass.
#
# What it does, all on 127.0.0.1:
#  1. Starts a throwaway PostgreSQL server: initdb in a temporary directory,
#     a free port, the server's defaults otherwise, so fsync and
#     synchronous_commit are on (the durability a user runs with). As root
#     (CI) initdb and postgres run as the postgres user, as
#     store/storetest/postgres.go does.
#  2. Builds sentstub once, starts one replica on that database and creates
#     K webhooks (default 64) for the demo fixture's Acme organization with
#     POST /v3/webhooks.
#  3. For 1, 2 and then 4 replicas (new processes each time, --db-max-conns
#     DB_MAX_CONNS each, default 8): a 1-second warm-up, a round of
#     PATCH /v3/webhooks/{id}/toggle-status with body {} (a flip: a write),
#     and a round of GET /v3/webhooks/{id}, each spread at random over the K
#     webhooks (scripts/perf-replicas.lua), so that toggles do not all wait
#     for one row's lock. wrk's 32 connections are split evenly: one wrk
#     process per replica with 32/N connections, all running at once; the
#     table sums their req/s. An answer that is not 2xx (wrk's count, and
#     each replica's /metrics and log) or a socket error fails the run.
#  4. Stops the replicas and runs pgbench against the same database, with
#     8, 16 and 32 connections (the pools of 1, 2 and 4 replicas): one
#     transaction is what the PostgreSQL store sends for one toggle
#     (BEGIN and the commit guard's set_config in one round trip, the
#     SELECT ... FOR NO KEY UPDATE of the row, the UPDATE of every column,
#     COMMIT), or for one get (the SELECT), on the same K webhooks at random.
#  5. Prints a table: replicas x (toggle, get) req/s, pgbench's tx/s for the
#     same statements, nproc and PostgreSQL's version and settings.
#
# Usage (from anywhere in the checkout; it needs no running server):
#   scripts/perf-replicas.sh          # 6-second rounds, about 1.5 minutes
#   D=2 scripts/perf-replicas.sh      # 2-second rounds: a quick smoke run
# Environment: D seconds per round (default 6), K webhooks (default 64),
# DB_MAX_CONNS each replica's pool (default 8). SENTSTUB_* and PG* variables
# of the caller are ignored, so that a run does not depend on them.
#
# Needs: go; curl; ps; wrk (Debian/Ubuntu: apt-get install wrk); PostgreSQL's
# server binaries initdb and postgres (in PATH, or the newest of
# /usr/lib/postgresql/*/bin and /usr/pgsql-*/bin; apt-get install
# postgresql), with pg_isready, psql and pgbench (postgresql-client); as
# root, a postgres user and setpriv (util-linux). Everything it starts is
# stopped when it exits, Ctrl-C included, and its temporary directory
# deleted. It is not part of make test; README.md quotes its output.
#
# Everything here shares the machine: wrk, pgbench, PostgreSQL and the
# replicas compete for the same cores, which the table's header states.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lua="$root/scripts/perf-replicas.lua"
D=${D:-6}
K=${K:-64}
DB_MAX_CONNS=${DB_MAX_CONNS:-8}
readonly conns=32              # wrk's connections in all, split over the replicas
readonly replica_counts=(1 2 4)
readonly pgbench_clients=(8 16 32)
readonly api_key=sk_test_acme_org # the demo fixture's Acme organization
readonly db_timeout=5s            # --db-timeout, the binary's default; see the commit guard below

die() {
	printf 'perf-replicas: %s\n' "$*" >&2
	exit 1
}
say() { printf 'perf-replicas: %s\n' "$*" >&2; }

[[ $D =~ ^[1-9][0-9]*$ ]] || die "D must be a whole number of seconds, not '$D'"
if ! [[ $K =~ ^[1-9][0-9]*$ ]] || ((K > 1000)); then
	die "K must be 1 to 1000 webhooks, not '$K'"
fi
[[ $DB_MAX_CONNS =~ ^[1-9][0-9]*$ ]] || die "DB_MAX_CONNS must be a positive number, not '$DB_MAX_CONNS'"

# The caller's settings must not change what is measured.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SENTSTUB_|PG)' || true)

# ---------------------------------------------------------------- tools

for tool in go curl wrk ps; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH (wrk: apt-get install wrk; ps: procps)"
done
[ -r "$lua" ] || die "$lua not found"

# find_pgbin prints the directory of initdb and postgres: the one in PATH,
# or else the newest of /usr/lib/postgresql/*/bin and /usr/pgsql-*/bin.
find_pgbin() {
	local p dirs=()
	if p=$(command -v initdb); then
		dirs+=("$(dirname "$(readlink -f "$p")")" "$(dirname "$p")")
	fi
	shopt -s nullglob
	local found=(/usr/lib/postgresql/*/bin /usr/pgsql-*/bin)
	shopt -u nullglob
	if ((${#found[@]} > 0)); then
		mapfile -t found < <(printf '%s\n' "${found[@]}" | sort -rV)
		dirs+=("${found[@]}")
	fi
	for p in "${dirs[@]}"; do
		if [ -x "$p/initdb" ] && [ -x "$p/postgres" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}
PGBIN=$(find_pgbin) || die "no initdb and postgres in PATH, /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin (apt-get install postgresql)"

# client_tool NAME prints the path of PostgreSQL's client NAME, preferring
# the server's own version.
client_tool() {
	if [ -x "$PGBIN/$1" ]; then
		printf '%s\n' "$PGBIN/$1"
	elif command -v "$1"; then
		:
	else
		die "$1 not found next to $PGBIN/postgres nor in PATH (apt-get install postgresql-client)"
	fi
}
PSQL=$(client_tool psql)
PGBENCH=$(client_tool pgbench)
PG_ISREADY=$(client_tool pg_isready)

# PostgreSQL refuses to run as root: run its server as the postgres user.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root, and PostgreSQL refuses to: no postgres user to run it as"
	command -v setpriv >/dev/null || die "running as root: setpriv (util-linux) is needed to run PostgreSQL as the postgres user"
	as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi

# ---------------------------------------------------------------- cleanup

tmp=""
pg_pid=""
replica_pids=()
replica_addrs=()
load_pids=() # wrk or pgbench

# running PID succeeds while PID is a process that has not exited (a
# zombie, exited but not yet waited for, counts as exited).
running() {
	local stat
	stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $stat && $stat != Z* ]]
}

# stop_pid PID SIGNAL sends SIGNAL to our child PID, kills it if it is still
# there after 30 s, and returns its exit status.
stop_pid() {
	local pid=$1 sig=$2 i
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		running "$pid" || break
		sleep 0.1
	done
	if running "$pid"; then
		say "process $pid did not stop within 30 s of SIG$sig: killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null
}

cleanup() {
	local rc=$? pid
	set +e
	trap - EXIT INT TERM
	for pid in "${load_pids[@]}" "${replica_pids[@]}"; do
		stop_pid "$pid" TERM
	done
	if [ -n "$pg_pid" ]; then
		stop_pid "$pg_pid" INT # fast shutdown
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM

# As root the directory must be one the postgres user can traverse.
if ((${#as_pg[@]} > 0)); then
	tmp=$(mktemp -d /tmp/sentstub-perf-replicas.XXXXXX)
else
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/sentstub-perf-replicas.XXXXXX")
fi
chmod 755 "$tmp"

# ---------------------------------------------------------------- PostgreSQL

pgdir="$tmp/pg"
mkdir "$pgdir"
if ((${#as_pg[@]} > 0)); then
	chown postgres: "$pgdir"
fi

say "initdb ($PGBIN)"
# --no-sync only skips initdb's flush of the files it writes; the server
# below runs with fsync on.
if ! (cd "$pgdir" && "${as_pg[@]}" "$PGBIN/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync) \
	>"$tmp/initdb.log" 2>&1; then
	cat "$tmp/initdb.log" >&2
	die "initdb failed"
fi

# free_port prints a port on 127.0.0.1 that nothing listens on now.
free_port() {
	local port i
	for ((i = 0; i < 100; i++)); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	die "found no free port on 127.0.0.1"
}

pg_port=""
for attempt in 1 2 3; do # another process may take the free port first
	pg_port=$(free_port)
	(cd "$pgdir" && exec "${as_pg[@]}" "$PGBIN/postgres" -D "$pgdir/data" -p "$pg_port" -k "$pgdir" \
		-c listen_addresses=127.0.0.1 -c max_connections=100 -c log_min_messages=warning) \
		>>"$pgdir/postgres.log" 2>&1 &
	pg_pid=$!
	for ((i = 0; i < 300; i++)); do
		if "$PG_ISREADY" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres; then
			break 2
		fi
		running "$pg_pid" || break
		sleep 0.1
	done
	stop_pid "$pg_pid" INT || true
	pg_pid=""
	say "PostgreSQL did not start on port $pg_port (attempt $attempt)"
done
if [ -z "$pg_pid" ]; then
	tail -n 30 "$pgdir/postgres.log" >&2
	die "PostgreSQL did not start"
fi

psql_q() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }
psql_q -d postgres -c 'CREATE DATABASE sentstub'
db_url="postgres://postgres@127.0.0.1:$pg_port/sentstub?sslmode=disable"
pg_version=$(psql_q -d postgres -Atc 'SHOW server_version')
pg_settings=$(psql_q -d postgres -Atc "SELECT 'fsync=' || current_setting('fsync') || ', synchronous_commit=' ||
	current_setting('synchronous_commit') || ', shared_buffers=' || current_setting('shared_buffers')")
say "PostgreSQL $pg_version on 127.0.0.1:$pg_port ($pg_settings)"

# ---------------------------------------------------------------- sentstub

bin="$tmp/sentstub"
say "go build ./cmd/sentstub"
(cd "$root" && go build -o "$bin" ./cmd/sentstub) || die "go build failed"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit + uncommitted changes"
fi

# start_replicas N starts N replicas on the database, each on a port of its
# own, and returns once each answers /healthz; replica_addrs holds their
# addresses.
start_replicas() {
	local n=$1 i log addr t
	replica_pids=()
	replica_addrs=()
	for ((i = 1; i <= n; i++)); do
		log="$tmp/replica-$n-$i.log"
		"$bin" --addr 127.0.0.1:0 --db "$db_url" --db-max-conns "$DB_MAX_CONNS" >"$log" 2>&1 &
		replica_pids+=("$!")
	done
	for ((i = 1; i <= n; i++)); do
		log="$tmp/replica-$n-$i.log"
		addr=""
		for ((t = 0; t < 300; t++)); do
			addr=$(sed -n '/msg="sentstub listening"/{s/.* addr=\([0-9.:]*\).*/\1/p;q;}' "$log")
			[ -n "$addr" ] && break
			if ! running "${replica_pids[i - 1]}"; then
				cat "$log" >&2
				die "replica $i of $n exited at start"
			fi
			sleep 0.1
		done
		if [ -z "$addr" ]; then
			cat "$log" >&2
			die "replica $i of $n did not start listening within 30 s"
		fi
		for ((t = 0; t < 300; t++)); do
			curl -fsS -o /dev/null "http://$addr/healthz" 2>/dev/null && break
			sleep 0.1
		done
		curl -fsS -o /dev/null "http://$addr/healthz" || die "replica $i of $n ($addr): /healthz does not answer 2xx"
		replica_addrs+=("$addr")
	done
}

# save_metrics saves each replica's /metrics, half a second after the last
# round so that requests wrk left in flight have ended.
save_metrics() {
	local i n=${#replica_addrs[@]}
	sleep 0.5
	for ((i = 0; i < n; i++)); do
		curl -fsS "http://${replica_addrs[i]}/metrics" >"$tmp/metrics-$n-$((i + 1))" ||
			die "replica $((i + 1)) (${replica_addrs[i]}): GET /metrics failed"
	done
}

# check_answers N, once the N replicas have stopped (their logs written
# out), fails if one answered anything but 2xx by its own count
# (sentstub_http_requests_total in the /metrics save_metrics saved), which
# sees every answer wrk got, or logged a warning or an error. The one
# exception: at the end of a round wrk closes its connections with requests
# in flight; the server cancels those, logs "client went away" and counts
# them with status 499. Their number must match the log's exactly; it is
# added to hung_up.
hung_up=0
check_answers() {
	local n=$1 i metrics log bad closed gone errors
	for ((i = 1; i <= n; i++)); do
		metrics="$tmp/metrics-$n-$i"
		log="$tmp/replica-$n-$i.log"
		grep -q '^sentstub_http_requests_total{' "$metrics" ||
			die "replica $i of $n: no sentstub_http_requests_total in /metrics"
		bad=$(grep '^sentstub_http_requests_total{' "$metrics" | grep -v -e 'status="2[0-9][0-9]"' -e 'status="499"' || true)
		closed=$(grep '^sentstub_http_requests_total{' "$metrics" | { grep 'status="499"' || true; } |
			awk 'NF { t += $NF } END { printf "%.0f", t }')
		gone=$(grep -c 'msg="client went away"' "$log" || true)
		errors=$(grep -E 'level=(WARN|ERROR)' "$log" || true)
		if [ -n "$errors" ]; then
			printf '%s\n' "$errors" | head -n 20 >&2
			die "replica $i of $n logged warnings or errors (above)"
		fi
		if [ -n "$bad" ]; then
			die "replica $i of $n answered requests with other than 2xx:
$bad"
		fi
		if ((closed != gone)); then
			grep 'msg="client went away"' "$log" | head -n 5 >&2
			die "replica $i of $n counted $closed requests whose client hung up (499) but logged $gone"
		fi
		hung_up=$((hung_up + gone))
	done
}

# stop_replicas stops the replicas and fails unless each exits cleanly.
stop_replicas() {
	local i rc
	for ((i = 0; i < ${#replica_pids[@]}; i++)); do
		rc=0
		stop_pid "${replica_pids[i]}" TERM || rc=$?
		if ((rc != 0)); then
			tail -n 20 "$tmp/replica-${#replica_pids[@]}-$((i + 1)).log" >&2
			die "replica $((i + 1)) exited with status $rc on SIGTERM"
		fi
	done
	replica_pids=()
	replica_addrs=()
}

# ---------------------------------------------------------------- webhooks

start_replicas 1
say "creating $K webhooks through POST /v3/webhooks"
ids=()
for ((i = 1; i <= K; i++)); do
	code=$(curl -sS -o "$tmp/create.json" -w '%{http_code}' -X POST "http://${replica_addrs[0]}/v3/webhooks" \
		-H "x-api-key: $api_key" -H 'Content-Type: application/json' \
		-d "{\"display_name\":\"perf-replicas $i\",\"endpoint_url\":\"https://127.0.0.1/perf-replicas/$i\",\"event_types\":[\"message\"]}")
	[ "$code" = 201 ] || die "POST /v3/webhooks answered $code: $(cat "$tmp/create.json")"
	id=$(grep -o '"id":"[0-9a-f-]\{36\}"' "$tmp/create.json" | sed -n '1s/"id":"\(.*\)"/\1/p')
	[ -n "$id" ] || die "no id in the answer to POST /v3/webhooks: $(cat "$tmp/create.json")"
	ids+=("$id")
done
ids_file="$tmp/ids"
printf '%s\n' "${ids[@]}" >"$ids_file"
owner=$(psql_q -d sentstub -Atc "SELECT owner_id FROM webhooks WHERE id = '${ids[0]}'")
[ -n "$owner" ] || die "webhook ${ids[0]} is not in the database"
stop_replicas
mv "$tmp/replica-1-1.log" "$tmp/replica-setup.log"

# ---------------------------------------------------------------- wrk rounds

# wrk_round OP SECONDS TAG runs one wrk per replica at once, conns/N
# connections each, and sets round_total (the sum of their req/s) and
# round_split (each one's, joined by " + ").
wrk_round() {
	local op=$1 secs=$2 tag=$3 n=${#replica_addrs[@]} i out rps
	local c=$((conns / n))
	load_pids=()
	for ((i = 0; i < n; i++)); do
		# Each wrk a seed of its own, the same in every run.
		wrk -t 1 -c "$c" -d "${secs}s" --timeout 10s -s "$lua" "http://${replica_addrs[i]}" \
			-- "$op" "$ids_file" "$((1000 * n + 10 * tag + i + 1))" >"$tmp/wrk-$n-$op-$tag-$i.out" 2>&1 &
		load_pids+=("$!")
	done
	for ((i = 0; i < n; i++)); do
		wait "${load_pids[i]}" || {
			cat "$tmp/wrk-$n-$op-$tag-$i.out" >&2
			die "wrk against replica $((i + 1)) of $n failed"
		}
	done
	load_pids=()
	round_total=0
	round_split=""
	for ((i = 0; i < n; i++)); do
		out="$tmp/wrk-$n-$op-$tag-$i.out"
		if grep -q -e 'Non-2xx' -e 'Socket errors' "$out"; then
			cat "$out" >&2
			die "$op round, $n replicas: replica $((i + 1)) (${replica_addrs[i]}) gave wrk non-2xx answers or socket errors"
		fi
		rps=$(awk '$1 == "Requests/sec:" { printf "%.0f", $2 }' "$out")
		if [ -z "$rps" ]; then
			cat "$out" >&2
			die "no Requests/sec in wrk's output"
		fi
		round_total=$((round_total + rps))
		round_split+="${round_split:+ + }$rps"
	done
}

declare -A toggle_total toggle_split get_total get_split
for n in "${replica_counts[@]}"; do
	say "$n replica(s), $((conns / n)) wrk connections each: warm-up 1 s, toggle ${D} s, get ${D} s"
	start_replicas "$n"
	wrk_round toggle 1 0
	wrk_round toggle "$D" 1
	toggle_total[$n]=$round_total
	toggle_split[$n]=$round_split
	wrk_round get "$D" 2
	get_total[$n]=$round_total
	get_split[$n]=$round_split
	save_metrics
	stop_replicas
	check_answers "$n"
done

# ---------------------------------------------------------------- pgbench

# The store's statements (store/postgres.go), for the webhook whose number
# :n pgbench draws at random: the K ids are a constant array in the
# statement, so the id is still a parameter of a prepared statement, looked
# up in the primary key (the plan is an index scan on webhooks_pkey), and
# the owner is the parameter :owner.
#
# A toggle (UpdateWebhook): PostgresStore.begin sends "BEGIN; SELECT
# set_config('sentstub.commit_deadline', ...)" in one round trip (the
# deadline: the call's time left, --db-timeout less a tenth; the commit
# guard of 0005_commit_guard.sql checks it at COMMIT), then the row locked
# for its read-modify-write, then every column but the key and owner
# written back, then COMMIT: four round trips. pgbench's prepared mode
# cannot send two statements in one message, so the first two are one
# pipeline, one round trip as well. The UPDATE writes what the store writes
# for {} (is_active flipped, updated_at now, the rest as read) from the
# row's own columns instead of 12 parameters the client read.
# A get (FindWebhook): one SELECT outside any transaction.
pgb_dir="$tmp/pgbench"
mkdir "$pgb_dir"
id_array="'{$(IFS=,; printf '%s' "${ids[*]}")}'::uuid[]"
columns='id, owner_id, display_name, endpoint_url, is_active, event_types, event_filters,
	retry_count, timeout_seconds, consecutive_failures, last_delivery_attempt_at,
	last_successful_delivery_at, created_at, updated_at, signing_secret'
deadline=$(awk -v t="${db_timeout%s}" 'BEGIN { printf "%.6f", t - t / 10 }')
cat >"$pgb_dir/toggle.sql" <<EOF
\\set n random(1, $K)
\\startpipeline
BEGIN;
SELECT set_config('sentstub.commit_deadline', (extract(epoch FROM clock_timestamp()) + $deadline)::text, true);
\\endpipeline
SELECT $columns
	FROM webhooks WHERE id = ($id_array)[:n] AND owner_id = :owner FOR NO KEY UPDATE;
UPDATE webhooks SET display_name = display_name, endpoint_url = endpoint_url, is_active = NOT is_active,
	event_types = event_types, event_filters = event_filters, retry_count = retry_count, timeout_seconds = timeout_seconds,
	consecutive_failures = consecutive_failures, last_delivery_attempt_at = last_delivery_attempt_at,
	last_successful_delivery_at = last_successful_delivery_at,
	updated_at = now(), signing_secret = signing_secret WHERE id = ($id_array)[:n];
COMMIT;
EOF
cat >"$pgb_dir/get.sql" <<EOF
\\set n random(1, $K)
SELECT $columns
	FROM webhooks WHERE id = ($id_array)[:n] AND owner_id = :owner;
EOF

# A wrong id or owner would make pgbench's statements find nothing, fast.
found=$(psql_q -d sentstub -Atc "SELECT count(*) FROM webhooks WHERE id = ANY ($id_array) AND owner_id = '$owner'")
[ "$found" = "$K" ] || die "pgbench's statements would find $found of the $K webhooks"

nproc=$(nproc)
declare -A pgb_tps
for op in toggle get; do
	for c in "${pgbench_clients[@]}"; do
		say "pgbench $op, $c connections, ${D} s"
		out="$pgb_dir/$op-$c.out"
		threads=$((c < nproc ? c : nproc))
		"$PGBENCH" -h 127.0.0.1 -p "$pg_port" -U postgres -n -M prepared -c "$c" -j "$threads" -T "$D" \
			-D "owner=$owner" -f "$pgb_dir/$op.sql" sentstub >"$out" 2>&1 &
		load_pids=("$!")
		wait "${load_pids[0]}" || {
			cat "$out" >&2
			die "pgbench $op with $c connections failed"
		}
		load_pids=()
		failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
		tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
		if [ "${failed:-x}" != 0 ] || [ -z "$tps" ]; then
			cat "$out" >&2
			die "pgbench $op with $c connections: failed transactions, or no tps in its output"
		fi
		pgb_tps[$op-$c]=$(printf '%.0f' "$tps")
	done
done

# ---------------------------------------------------------------- table

wrk_version=$( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $2 }')
cat <<EOF

sentstub replicas on one PostgreSQL database ($(date -u +%Y-%m-%d), sentstub $commit)
machine: nproc=$nproc, shared by wrk, pgbench, PostgreSQL and the replicas
PostgreSQL $pg_version ($pg_settings)
load: $K webhooks of one account, each request on one of them at random; D=${D}s per round
wrk $wrk_version: $conns connections in all, one wrk (-t 1) per replica with $conns/N each, all at once
each replica: --db-max-conns $DB_MAX_CONNS, the other flags at their defaults (access log on)
every answer wrk received was 2xx; requests in flight when wrk hung up at the end of a round,
cancelled by the server (499 in its /metrics, "client went away" in its log): $hung_up

EOF
printf '%-9s %-34s %s\n' replicas 'toggle req/s (each replica)' 'get req/s (each replica)'
for n in "${replica_counts[@]}"; do
	printf '%-9s %-34s %s\n' "$n" "${toggle_total[$n]} (${toggle_split[$n]})" "${get_total[$n]} (${get_split[$n]})"
done
cat <<EOF

PostgreSQL alone, the replicas stopped (pgbench -M prepared, threads = min(connections, nproc);
one transaction = one toggle's statements, or one get's SELECT, on the same $K webhooks at random;
1, 2 and 4 replicas hold up to $DB_MAX_CONNS, $((2 * DB_MAX_CONNS)) and $((4 * DB_MAX_CONNS)) connections):

EOF
printf '%-12s %-14s %s\n' connections 'toggle tx/s' 'get tx/s'
for c in "${pgbench_clients[@]}"; do
	printf '%-12s %-14s %s\n' "$c" "${pgb_tps[toggle-$c]}" "${pgb_tps[get-$c]}"
done
