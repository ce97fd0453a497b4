#!/usr/bin/env bash
# Runs the measurements of docs/BENCHMARKS.md and writes one JSON report per
# run to $OUT (default docs/bench), then the plots (go run ./bench/cmd/plot).
#
#   bench/run-benchmarks.sh [standalone] [distributed]   (default: both)
#
# Standalone: `zocket serve` on 127.0.0.1:$SA_PORT. Distributed: a separate
# nats-server (built from the module's nats-server/v2 dependency), `zocket
# runtime` and `zocket gateway` as three processes, so that each one's memory
# and CPU are reported (-pid). Only loopback ports are used.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-docs/bench}
WORK=${WORK:-$(mktemp -d /tmp/zocket-bench.XXXXXX)}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SA_PORT=${SA_PORT:-3911}
ECHO_PORT=${ECHO_PORT:-3941}
GW_PORT=${GW_PORT:-3931}
RT_PORT=${RT_PORT:-3932}
NATS_PORT=${NATS_PORT:-4333}
CLIENTS=${CLIENTS:-"1 10 100 1000"}
SUBSCRIBERS=${SUBSCRIBERS:-"100 1000 5000"}
SESSIONS=${SESSIONS:-"1000 5000 10000"}
SETTLE=${SETTLE:-5} # seconds between runs, for the servers to finish cleaning up
# Fan-out writes: canvas.stroke, whose subscription changes nothing (the
# counter's viewer count makes N subscriptions cost N²/2 patches). /nextId
# counts the strokes, so it tells which write a patch carries.
FANOUT=(-actor canvas -method stroke -path /nextId -input '{"points":[[0.5,0.5]],"color":"#336699","width":2}')
# Distributed fan-out to 5,000 sessions delivers under 2,000 patches/s (see
# docs/BENCHMARKS.md): 10 s of writes would take 9 minutes to deliver.
DIST_FANOUT_LONG=${DIST_FANOUT_LONG:-2s}

mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" # 10,000 sessions need 10,000+ descriptors on each side
BIN=$WORK/zocket
go build -o "$BIN" ./cmd/zocket
go build -o "$WORK/nats-server" github.com/nats-io/nats-server/v2

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
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

run() { # name, bench args...
	local name=$1
	shift
	echo "== $name: zocket bench $*" >&2
	"$BIN" bench "$@" -json -q >"$OUT/$name.json" || echo "   (run reported failures: see $OUT/$name.json)" >&2
	sleep "$SETTLE"
}

start_standalone() { # sets pid
	PORT=$SA_PORT "$BIN" serve -host 127.0.0.1 >>"$WORK/serve.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_health "http://127.0.0.1:$SA_PORT/health"
}

standalone() {
	local pid
	start_standalone
	# The echo floor runs as its own process too, like the server it is
	# compared with; floor-echo-inprocess-N is the tool's built-in one.
	"$BIN" bench echo -addr "127.0.0.1:$ECHO_PORT" >"$WORK/echo.log" 2>&1 &
	local epid=$!
	PIDS+=("$epid")
	for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$ECHO_PORT") 2>/dev/null && break; sleep 0.1; done
	local url=ws://127.0.0.1:$SA_PORT/
	for c in $CLIENTS; do
		run "standalone-rpc-$c" rpc -url "$url" -clients "$c" -duration "$DURATION" -warmup "$WARMUP" \
			-compare -floor echo -echo-url "ws://127.0.0.1:$ECHO_PORT/" -pid "$pid,$epid"
	done
	for c in $CLIENTS; do
		run "floor-echo-inprocess-$c" floor -kind echo -clients "$c" -duration "$DURATION" -warmup "$WARMUP"
	done
	for s in $SUBSCRIBERS; do
		run "standalone-fanout-$s" fanout -url "$url" -subscribers "$s" -rate 20 -duration "$DURATION" "${FANOUT[@]}" \
			-connect-timeout 30s -grace 60s -pid "$pid"
	done
	cleanup
	# Connection capacity: a fresh server for each size, so that the memory
	# before the run is the idle server's.
	for n in $SESSIONS; do
		start_standalone
		run "standalone-connect-$n" connect -url "$url" -sessions "$n" -ramp 1000 -hold 10s -connect-timeout 30s -grace 30s -pid "$pid"
		cleanup
	done
}

start_distributed() { # sets pids (gateway,runtime,nats-server)
	rm -rf "$WORK/js"
	"$WORK/nats-server" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/js" >>"$WORK/nats.log" 2>&1 &
	local npid=$!
	PIDS+=("$npid")
	for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
	"$BIN" runtime -nats "$nats" -api-port "$RT_PORT" >>"$WORK/runtime.log" 2>&1 &
	local rpid=$!
	PIDS+=("$rpid")
	wait_health "http://127.0.0.1:$RT_PORT/health"
	"$BIN" gateway -nats "$nats" -host 127.0.0.1 -port "$GW_PORT" >>"$WORK/gateway.log" 2>&1 &
	local gpid=$!
	PIDS+=("$gpid")
	wait_health "http://127.0.0.1:$GW_PORT/health"
	pids=$gpid,$rpid,$npid
}

distributed() {
	local nats=nats://127.0.0.1:$NATS_PORT url=ws://127.0.0.1:$GW_PORT/ pids
	start_distributed
	for c in $CLIENTS; do
		run "distributed-rpc-$c" rpc -url "$url" -clients "$c" -duration "$DURATION" -warmup "$WARMUP" -compare -floor jetstream -nats "$nats" -pid "$pids"
	done
	for s in $SUBSCRIBERS; do
		local d=$DURATION
		[ "$s" -ge 5000 ] && d=$DIST_FANOUT_LONG
		run "distributed-fanout-$s" fanout -url "$url" -subscribers "$s" -rate 20 -duration "$d" "${FANOUT[@]}" \
			-connect-timeout 60s -grace 300s -pid "$pids"
	done
	cleanup
	for n in $SESSIONS; do
		start_distributed
		run "distributed-connect-$n" connect -url "$url" -sessions "$n" -ramp 1000 -hold 10s -connect-timeout 30s -grace 30s -pid "$pids"
		cleanup
	done
}

modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(standalone distributed)
for m in "${modes[@]}"; do "$m"; done
go run ./bench/cmd/plot -in "$OUT" -out docs -md "$OUT/tables.md"
