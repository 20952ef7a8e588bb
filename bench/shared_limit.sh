#!/usr/bin/env bash
# Several processes on one API key: shared limit through Redis vs independent limiters vs one
# process doing all the images (issue 15's "must show").
#
# usage: bench/shared_limit.sh ZBATCH [PROCESSES] [IMAGES_PER_PROCESS] [STRATEGY]
#   defaults: 4 processes × 50 images, strategy adaptive
#
# Starts `zbatch mock --profile modelscope-free` on 127.0.0.1 (a fresh one per configuration, so
# no run inherits another's in-flight tasks or token bucket) with a merge patch that plays the
# profile about 10× faster (generation 300 ms median / 900 ms p99 instead of the catalogue's
# measured 5.8 s for 1024², so `size_latency` "exponent"; queue 10-150 ms, response delay
# 4 ms median, 10 submits/s with bursts of 8) and lifts the daily quota and call limits (600
# images would exhaust them); the limits that matter here are unchanged: one task in flight
# guaranteed per key, refusal above it with probability 0.5 + 0.2 per extra task. Every process
# uses the same stand-in key, so the mock sees one key. Polls every 100 ms (10× the default's).
# Starts its own redis-server on a free loopback port for the shared runs.
#
# Prints, per configuration: images delivered, dynamic 429s (sum over processes, from each
# manifest's this_run.http_429), submits, and the makespan (first start to last exit, wall).
# No assertion: the figures vary with the machine's load; tests assert behaviours.
set -euo pipefail

zbatch=${1:?usage: bench/shared_limit.sh ZBATCH [PROCESSES] [IMAGES_PER_PROCESS] [STRATEGY]}
procs=${2:-4}
per=${3:-50}
strategy=${4:-adaptive}
total=$((procs * per))
command -v redis-server > /dev/null || { echo "$0: redis-server missing (scripts/install-deps.sh)" >&2; exit 3; }

work=$(mktemp -d)
mock_pid=
redis_pid=
cleanup() {
  [[ -n $mock_pid ]] && kill "$mock_pid" 2> /dev/null || true
  [[ -n $redis_pid ]] && kill "$redis_pid" 2> /dev/null || true
  wait 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/fast.json" <<'JSON'
{"generation": {"queue": {"kind": "uniform", "min_ms": 10, "max_ms": 150},
                "time": {"kind": "lognormal", "median_ms": 300, "p99_ms": 900},
                "size_latency": "exponent"},
 "response_delay": {"kind": "lognormal", "median_ms": 4, "p99_ms": 25},
 "throttle": {"rate": {"per_second": 10, "burst": 8},
              "quota": {"daily_credits": 100000000},
              "daily_limits": {"enabled": false}}}
JSON

start_mock() {
  "$zbatch" mock --profile modelscope-free --config "$work/fast.json" --seed "$1" \
    > "$work/mock.out" 2> "$work/mock.err" &
  mock_pid=$!
  base_url=
  for _ in $(seq 1 100); do
    base_url=$(head -n 1 "$work/mock.out" 2> /dev/null || true)
    [[ -n $base_url ]] && return 0
    kill -0 "$mock_pid" 2> /dev/null || { cat "$work/mock.err" >&2; exit 3; }
    sleep 0.1
  done
  echo "$0: the mock printed no base URL" >&2
  exit 3
}
stop_mock() { kill "$mock_pid" 2> /dev/null || true; wait "$mock_pid" 2> /dev/null || true; mock_pid=; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'bind 127.0.0.1\nport %s\nsave ""\nappendonly no\ndir %s\nlogfile %s/redis.log\n' \
  "$port" "$work" "$work" > "$work/redis.conf"
redis-server "$work/redis.conf" &
redis_pid=$!
for _ in $(seq 1 100); do
  redis-cli -p "$port" ping > /dev/null 2>&1 && break
  sleep 0.05
done

# run NAME N_PROCESSES IMAGES_EACH [extra generate options...]
run() {
  local name=$1 n=$2 each=$3
  shift 3
  start_mock 42
  local t0 t1 pids=()
  t0=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    "$zbatch" generate --base-url "$base_url" --prompt "a lighthouse $i" --count "$each" --seed $((i * 1000)) \
      --strategy "$strategy" --poll-interval-ms 100 --out "$work/$name/$i" "$@" \
      > "$work/$name.$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  t1=$(date +%s.%N)
  stop_mock
  python3 - "$name" "$t0" "$t1" "$work/$name" <<'PY'
import json, pathlib, sys
name, t0, t1, root = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), pathlib.Path(sys.argv[4])
delivered = total = r429 = submits = 0
for m in sorted(root.glob("*/manifest.json")):
    d = json.loads(m.read_text())
    delivered += d["delivered"]; total += d["total"]
    r429 += d["this_run"]["http_429"]; submits += d["this_run"]["submit_requests"]
print(f"{name:<28} {delivered:>4}/{total:<4} {r429:>6} {submits:>8} {t1 - t0:>11.1f}")
PY
  redis-cli -p "$port" flushall > /dev/null
}

echo "# $procs processes × $per images vs 1 × $total on one key; strategy $strategy; mock modelscope-free ×10 speed"
printf '%-28s %9s %6s %8s %11s\n' configuration delivered 429s submits makespan_s
run "one-process" 1 "$total"
run "shared-redis" "$procs" "$per" --shared-limit "redis://127.0.0.1:$port"
run "independent" "$procs" "$per"
