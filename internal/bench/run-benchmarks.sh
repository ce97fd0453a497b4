#!/usr/bin/env bash
# Runs the measurements of docs/BENCHMARKS.md and writes one JSON report per
# run to $OUT (default docs/bench), then the tables and plots
# (go run ./internal/bench/cmd/plot).
#
#   internal/bench/run-benchmarks.sh [standalone] [distributed] [targets]
#
# (default: all three). Sections:
#
#   standalone   `zocket serve`: rpc (beside the echo floor), fan-out and
#                connect over CLIENTS, SUBSCRIBERS and SESSIONS.
#   distributed  the same against a separate nats-server (built from the
#                module's nats-server/v2 dependency), `zocket runtime` and
#                `zocket gateway` as three processes, so that each one's
#                memory and CPU are reported (-pid), once per delivery mode
#                in DELIVERY ("core consumer" by default; the gateway's and
#                runtime's -delivery). RPC is compared with the floor of its
#                mode: jetstream-core (replies read by core NATS
#                subscriptions) for core, jetstream (one ordered consumer
#                per client) for consumer.
#   targets      the runs the delivery targets need, for every mode in
#                DELIVERY and beside standalone (TARGET_STANDALONE=0: not):
#                TARGETS selects among
#                  rpc        rpc at TARGET_CLIENTS (100 1000), -compare
#                  fanout     fan-out at 20 writes/s to TARGET_WATCHERS
#                             (1000 5000)
#                  after      rpc at AFTER_FANOUT (1000) clients right after
#                             the fan-out to AFTER_FANOUT watchers, on the
#                             same server processes
#                  fanout2gw  fan-out to WATCHERS_2GW (5000) watchers spread
#                             over two gateways (distributed only)
#                  active     ACTIVE_SESSIONS (5000) sessions each calling
#                             ACTIVE_RATE (1) times a second, open loop:
#                             lost calls and p99
#                  idle       IDLE_SESSIONS (50000) sessions held open by
#                             one server (gateway + nats-server), one call
#                             each: memory per session
#
# Report names carry the shape and, distributed, the delivery mode:
# standalone-rpc-100, distributed-core-rpc-100, distributed-consumer-rpc-100,
# distributed-core-fanout2gw-5000, distributed-core-rpc-after-fanout-1000,
# distributed-core-active-5000, distributed-core-connect-50000, ... A run
# whose report this invocation already wrote is not repeated (the
# distributed section and the targets share some). Only loopback addresses
# are used; connections beyond IDLE_PER_ADDR (20000) per source address
# come from 127.0.0.2, 127.0.0.3, ... (bench -local-addrs) so that the
# ephemeral ports of one source address suffice.
#
# Examples:
#
#   internal/bench/run-benchmarks.sh                            # everything
#   DELIVERY=core internal/bench/run-benchmarks.sh distributed  # one mode
#   internal/bench/run-benchmarks.sh targets                    # only the target runs
#   TARGETS="idle" DELIVERY=consumer TARGET_STANDALONE=0 internal/bench/run-benchmarks.sh targets
#
# The lists (CLIENTS, SUBSCRIBERS, SESSIONS, DELIVERY, TARGETS,
# TARGET_CLIENTS, TARGET_WATCHERS) take their defaults only when unset: set
# to "" they select nothing (SESSIONS="": no connect runs).
#
# PLOT=0 skips the tables and plots; PLOT_OUT (default docs) is where the
# plots go, the tables go to $OUT/tables.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=${OUT:-docs/bench}
WORK=${WORK:-$(mktemp -d /tmp/zocket-bench.XXXXXX)}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SA_PORT=${SA_PORT:-3911}
ECHO_PORT=${ECHO_PORT:-3941}
GW_PORT=${GW_PORT:-3931}
RT_PORT=${RT_PORT:-3932}
GW2_PORT=${GW2_PORT:-3933}
NATS_PORT=${NATS_PORT:-4333}
CLIENTS=${CLIENTS-"1 10 100 1000"}
SUBSCRIBERS=${SUBSCRIBERS-"100 1000 5000"}
SESSIONS=${SESSIONS-"1000 5000 10000"}
DELIVERY=${DELIVERY-"core consumer"}
TARGETS=${TARGETS-"rpc fanout after fanout2gw active idle"}
TARGET_STANDALONE=${TARGET_STANDALONE:-1}
TARGET_CLIENTS=${TARGET_CLIENTS-"100 1000"}
TARGET_WATCHERS=${TARGET_WATCHERS-"1000 5000"}
AFTER_FANOUT=${AFTER_FANOUT:-1000}
WATCHERS_2GW=${WATCHERS_2GW:-5000}
ACTIVE_SESSIONS=${ACTIVE_SESSIONS:-5000}
ACTIVE_RATE=${ACTIVE_RATE:-1} # calls per second per session
ACTIVE_DURATION=${ACTIVE_DURATION:-$DURATION}
IDLE_SESSIONS=${IDLE_SESSIONS:-50000}
IDLE_PER_ADDR=${IDLE_PER_ADDR:-20000} # sessions per loopback source address
RAMP=${RAMP:-1000}                    # sessions opened per second (connect)
HOLD=${HOLD:-10s}
NOFILE=${NOFILE:-200000} # descriptors wanted: 50,000 sessions need 50,000+ on each side
SETTLE=${SETTLE:-5}      # seconds between runs, for the servers to finish cleaning up
PLOT=${PLOT:-1}
PLOT_OUT=${PLOT_OUT:-docs}
# Fan-out writes: canvas.stroke, whose subscription changes nothing (the
# counter's viewer count makes N subscriptions cost N²/2 patches). /nextId
# counts the strokes, so it tells which write a patch carries.
FANOUT=(-actor canvas -method stroke -path /nextId -input '{"points":[[0.5,0.5]],"color":"#336699","width":2}')
# Write phase of distributed fan-out to 5,000 or more watchers: with one
# ordered consumer per session (consumer) it delivers under 2,000 patches/s
# (see docs/BENCHMARKS.md), and 10 s of writes would take 9 minutes to
# deliver. Core delivery writes for DURATION unless told otherwise.
DIST_FANOUT_LONG=${DIST_FANOUT_LONG:-2s}
DIST_FANOUT_LONG_CORE=${DIST_FANOUT_LONG_CORE:-$DURATION}

for m in $DELIVERY; do
	case $m in core | consumer) ;; *) echo "DELIVERY: unknown mode $m (want core and/or consumer)" >&2 && exit 2 ;; esac
done
for t in $TARGETS; do
	case $t in rpc | fanout | after | fanout2gw | active | idle) ;; *) echo "TARGETS: unknown run $t" >&2 && exit 2 ;; esac
done
modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(standalone distributed targets)
for m in "${modes[@]}"; do
	case $m in standalone | distributed | targets) ;; *) echo "unknown section $m (want standalone, distributed or targets)" >&2 && exit 2 ;; esac
done

mkdir -p "$OUT"
# As root the limit can be raised past the hard limit; otherwise take the
# hard limit.
ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n); reports in $OUT, logs in $WORK" >&2
BIN=$WORK/zocket
go build -o "$BIN" ./cmd/zocket
go build -o "$WORK/nats-server" github.com/nats-io/nats-server/v2

PIDS=()
cleanup() { # last started first: gateways, then the runtime, then nats-server
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[i]}" 2>/dev/null || true
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	PIDS=()
}
trap cleanup EXIT

wait_health() { # url
	for _ in $(seq 100); do
		curl -fsS "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "no answer from $1" >&2
	return 1
}

wait_port() { # port
	# Opens and closes a connection without writing (nats-server logs a
	# parser error for a stray newline).
	for _ in $(seq 100); do (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

declare -A DONE=()
want() { [[ " $TARGETS " == *" $1 "* ]]; }

run() { # name, bench args... (FORCE=1: even if this invocation already wrote it)
	local name=$1
	shift
	if [ -n "${DONE[$name]:-}" ] && [ "${FORCE:-0}" != 1 ]; then
		echo "== $name: already measured in this invocation" >&2
		return 0
	fi
	echo "== $name: zocket bench $*" >&2
	"$BIN" bench "$@" -json -q >"$OUT/$name.json" || echo "   (run reported failures: see $OUT/$name.json)" >&2
	DONE[$name]=1
	sleep "$SETTLE"
}

# local_addrs n: -local-addrs for n connections, IDLE_PER_ADDR per loopback
# source address; nothing when one address suffices.
local_addrs() {
	local n=$1 k i list=
	k=$(((n + IDLE_PER_ADDR - 1) / IDLE_PER_ADDR))
	if [ "$k" -le 1 ]; then return 0; fi
	for ((i = 1; i <= k; i++)); do list+=${list:+,}127.0.0.$i; done
	echo "-local-addrs $list"
}

check_nofile() { # sessions
	if [ "$(ulimit -n)" -lt $(($1 + 1024)) ]; then
		echo "   WARNING: open files limit $(ulimit -n) < $1 sessions + 1024: the tool and the server each need a" >&2
		echo "   descriptor per session, so sessions beyond the limit will fail. Raising the hard limit needs" >&2
		echo "   CAP_SYS_RESOURCE (root in a container may lack it); the run goes ahead and reports what opened." >&2
	fi
}

# fanout_runs prefix url pids distributed-mode watchers...: the fan-out runs
# and, for the AFTER_FANOUT watchers, the rpc right after on the same
# processes (the fan-out is repeated when needed, so that the rpc follows it).
fanout_runs() {
	local p=$1 url=$2 pids=$3 mode=$4
	shift 4
	local s d grace=60s floor=()
	for s in "$@"; do
		d=$DURATION
		if [ -n "$mode" ]; then
			grace=300s
			if [ "$s" -ge 5000 ]; then
				d=$DIST_FANOUT_LONG
				if [ "$mode" = core ]; then d=$DIST_FANOUT_LONG_CORE; fi
			fi
		fi
		if [ "$s" = "$AFTER_FANOUT" ] && want after && [ -z "${DONE[$p-rpc-after-fanout-$s]:-}" ]; then
			FORCE=1 run "$p-fanout-$s" fanout -url "$url" -subscribers "$s" -rate 20 -duration "$d" "${FANOUT[@]}" \
				-connect-timeout 60s -grace "$grace" -pid "$pids"
			local rpids=$pids
			if [ -n "$mode" ]; then
				floor=(-floor "$(floor_of "$mode")" -nats "$nats")
			else # the echo server process ($epid) is the floor
				floor=(-floor echo -echo-url "ws://127.0.0.1:$ECHO_PORT/")
				rpids=$pids,$epid
			fi
			run "$p-rpc-after-fanout-$s" rpc -url "$url" -clients "$s" -duration "$DURATION" -warmup "$WARMUP" \
				-connect-timeout 60s -compare "${floor[@]}" -pid "$rpids"
		elif want fanout; then
			run "$p-fanout-$s" fanout -url "$url" -subscribers "$s" -rate 20 -duration "$d" "${FANOUT[@]}" \
				-connect-timeout 60s -grace "$grace" -pid "$pids"
		fi
	done
}

# watcher_sizes: TARGET_WATCHERS and AFTER_FANOUT as the targets want them.
watcher_sizes() {
	local list=
	if want fanout; then list=$TARGET_WATCHERS; fi
	if want after && [[ " $list " != *" $AFTER_FANOUT "* ]]; then list+=" $AFTER_FANOUT"; fi
	echo "$list" | tr ' ' '\n' | sed '/^$/d' | sort -n | tr '\n' ' '
}

start_standalone() { # sets pid
	PORT=$SA_PORT "$BIN" serve -host 127.0.0.1 -max-frame-rate -1 >>"$WORK/serve.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_health "http://127.0.0.1:$SA_PORT/health"
}

start_echo() { # sets epid
	"$BIN" bench echo -addr "127.0.0.1:$ECHO_PORT" >"$WORK/echo.log" 2>&1 &
	epid=$!
	PIDS+=("$epid")
	wait_port "$ECHO_PORT"
}

standalone_connect() { # sessions...
	local n pid url=ws://127.0.0.1:$SA_PORT/
	# Connection capacity: a fresh server for each size, so that the memory
	# before the run is the idle server's.
	for n in "$@"; do
		[ -n "${DONE[standalone-connect-$n]:-}" ] && continue
		check_nofile "$n"
		start_standalone
		# shellcheck disable=SC2046 # local_addrs is empty or two words
		run "standalone-connect-$n" connect -url "$url" -sessions "$n" -ramp "$RAMP" -hold "$HOLD" \
			-connect-timeout 30s -grace "$(connect_grace "$n")" -pid "$pid" $(local_addrs "$n")
		cleanup
	done
}

connect_grace() { # sessions: time for the final calls, all sent at once
	if [ "$1" -gt 10000 ]; then echo 120s; else echo 30s; fi
}

standalone() {
	local pid epid c s url=ws://127.0.0.1:$SA_PORT/
	start_standalone
	# The echo floor runs as its own process too, like the server it is
	# compared with; floor-echo-inprocess-N is the tool's built-in one.
	start_echo
	for c in $CLIENTS; do
		run "standalone-rpc-$c" rpc -url "$url" -clients "$c" -duration "$DURATION" -warmup "$WARMUP" \
			-compare -floor echo -echo-url "ws://127.0.0.1:$ECHO_PORT/" -pid "$pid,$epid"
	done
	for c in $CLIENTS; do
		run "floor-echo-inprocess-$c" floor -kind echo -clients "$c" -duration "$DURATION" -warmup "$WARMUP"
	done
	# shellcheck disable=SC2086
	TARGETS="fanout after" fanout_runs standalone "$url" "$pid" "" $SUBSCRIBERS
	cleanup
	# shellcheck disable=SC2086
	standalone_connect $SESSIONS
}

floor_of() { # delivery mode: the rpc floor it is compared with
	if [ "$1" = core ]; then echo jetstream-core; else echo jetstream; fi
}

start_gateway() { # mode port log: sets gpid
	"$BIN" gateway -nats "$nats" -host 127.0.0.1 -max-frame-rate -1 -port "$2" -delivery "$1" "${streams[@]}" >>"$WORK/$3" 2>&1 &
	gpid=$!
	PIDS+=("$gpid")
	wait_health "http://127.0.0.1:$2/health"
}

# start_distributed mode [max OUTBOUND consumers]: nats-server, runtime and
# gateway with that delivery; sets pids (gateway,runtime,nats-server) and
# rpid, npid.
start_distributed() {
	local mode=$1 gpid
	streams=()
	if [ -n "${2:-}" ]; then streams=(-outbound-max-consumers "$2"); fi
	rm -rf "$WORK/js"
	"$WORK/nats-server" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/js" >>"$WORK/nats.log" 2>&1 &
	npid=$!
	PIDS+=("$npid")
	wait_port "$NATS_PORT"
	"$BIN" runtime -nats "$nats" -api-port "$RT_PORT" -delivery "$mode" "${streams[@]}" >>"$WORK/runtime-$mode.log" 2>&1 &
	rpid=$!
	PIDS+=("$rpid")
	wait_health "http://127.0.0.1:$RT_PORT/health"
	start_gateway "$mode" "$GW_PORT" "gateway-$mode.log"
	pids=$gpid,$rpid,$npid
}

distributed_connect() { # mode sessions...
	local mode=$1 n pids npid rpid streams
	shift
	for n in "$@"; do
		[ -n "${DONE[distributed-$mode-connect-$n]:-}" ] && continue
		check_nofile "$n"
		# OUTBOUND allows 16,384 consumers by default; consumer delivery
		# holds one per session.
		local maxc=
		if [ "$n" -gt 15000 ]; then maxc=$((n + 1024)); fi
		start_distributed "$mode" $maxc
		# shellcheck disable=SC2046
		run "distributed-$mode-connect-$n" connect -url "$url" -sessions "$n" -ramp "$RAMP" -hold "$HOLD" \
			-connect-timeout 30s -grace "$(connect_grace "$n")" -pid "$pids" $(local_addrs "$n")
		cleanup
	done
}

distributed() {
	local mode c s pids npid rpid streams nats=nats://127.0.0.1:$NATS_PORT url=ws://127.0.0.1:$GW_PORT/
	for mode in $DELIVERY; do
		local p=distributed-$mode
		start_distributed "$mode"
		for c in $CLIENTS; do
			run "$p-rpc-$c" rpc -url "$url" -clients "$c" -duration "$DURATION" -warmup "$WARMUP" \
				-compare -floor "$(floor_of "$mode")" -nats "$nats" -pid "$pids"
		done
		# shellcheck disable=SC2086
		TARGETS="fanout after" fanout_runs "$p" "$url" "$pids" "$mode" $SUBSCRIBERS
		cleanup
		# shellcheck disable=SC2086
		distributed_connect "$mode" $SESSIONS
	done
}

targets() {
	local mode c pid epid pids npid rpid gpid streams nats=nats://127.0.0.1:$NATS_PORT url=ws://127.0.0.1:$GW_PORT/
	local watchers
	watchers=$(watcher_sizes)
	if [ "$TARGET_STANDALONE" = 1 ]; then
		local surl=ws://127.0.0.1:$SA_PORT/
		start_standalone
		start_echo
		if want rpc; then
			for c in $TARGET_CLIENTS; do
				run "standalone-rpc-$c" rpc -url "$surl" -clients "$c" -duration "$DURATION" -warmup "$WARMUP" \
					-compare -floor echo -echo-url "ws://127.0.0.1:$ECHO_PORT/" -pid "$pid,$epid"
			done
		fi
		# shellcheck disable=SC2086
		fanout_runs standalone "$surl" "$pid" "" $watchers
		if want active; then
			run "standalone-active-$ACTIVE_SESSIONS" rpc -url "$surl" -clients "$ACTIVE_SESSIONS" \
				-rate $((ACTIVE_SESSIONS * ACTIVE_RATE)) -duration "$ACTIVE_DURATION" -warmup "$WARMUP" \
				-connect-timeout 60s -grace 30s -pid "$pid"
		fi
		cleanup
		if want idle; then standalone_connect "$IDLE_SESSIONS"; fi
	fi
	for mode in $DELIVERY; do
		local p=distributed-$mode
		start_distributed "$mode"
		if want rpc; then
			for c in $TARGET_CLIENTS; do
				run "$p-rpc-$c" rpc -url "$url" -clients "$c" -duration "$DURATION" -warmup "$WARMUP" \
					-compare -floor "$(floor_of "$mode")" -nats "$nats" -pid "$pids"
			done
		fi
		# shellcheck disable=SC2086
		fanout_runs "$p" "$url" "$pids" "$mode" $watchers
		if want active; then
			run "$p-active-$ACTIVE_SESSIONS" rpc -url "$url" -clients "$ACTIVE_SESSIONS" \
				-rate $((ACTIVE_SESSIONS * ACTIVE_RATE)) -duration "$ACTIVE_DURATION" -warmup "$WARMUP" \
				-connect-timeout 60s -grace 30s -pid "$pids"
		fi
		if want fanout2gw; then
			# A second gateway on the same nats-server and runtime; the
			# watchers alternate between the two, the writer is on the first.
			local pids1=$pids d=$DURATION
			start_gateway "$mode" "$GW2_PORT" "gateway2-$mode.log"
			if [ "$WATCHERS_2GW" -ge 5000 ]; then
				d=$DIST_FANOUT_LONG
				if [ "$mode" = core ]; then d=$DIST_FANOUT_LONG_CORE; fi
			fi
			run "$p-fanout2gw-$WATCHERS_2GW" fanout -url "$url,ws://127.0.0.1:$GW2_PORT/" -subscribers "$WATCHERS_2GW" \
				-rate 20 -duration "$d" "${FANOUT[@]}" -connect-timeout 60s -grace 300s -pid "${pids1%%,*},$gpid,${pids1#*,}"
		fi
		cleanup
		if want idle; then distributed_connect "$mode" "$IDLE_SESSIONS"; fi
	done
}

for m in "${modes[@]}"; do "$m"; done
if [ "$PLOT" = 1 ]; then
	go run ./internal/bench/cmd/plot -in "$OUT" -out "$PLOT_OUT" -md "$OUT/tables.md"
fi
