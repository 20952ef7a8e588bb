#!/usr/bin/env bash
# Runs every libFuzzer target of fuzz/ (issue 17) and prints, per target, the executions, the
# time and the crashes (a crash, a sanitizer report, a leak, a time-out or an out-of-memory:
# libFuzzer stops a target at its first one, so 1 means "found one"). Exits 1 when any target
# found one; the input that did it is kept as OUT/<target>-crash-* (reproduce with
# `build/fuzz/fuzz/fuzz_<target> OUT/<target>-crash-...`).
#
#   bash scripts/fuzz.sh [--runs N | --time S] [--out DIR] [--timeout S] [--no-build] [TARGET ...]
#
# --runs N      executions per target (default 10000000, the issue's figure)
# --time S      seconds per target instead (what CI runs: scripts/test.sh)
# --out DIR     where crashes and each target's grown corpus go (default a fresh temporary
#               directory, removed at the end unless something crashed)
# --timeout S   wall seconds one input may take before it counts as a hang (default 25). It is
#               libFuzzer's wall clock: a run under `nice` on a busy machine needs more (inputs of
#               0.4 s reported as 25 s hangs here at load 8)
# TARGETs are the names in fuzz/CMakeLists.txt without "fuzz_" (default: all). Seeds come from
# fuzz/corpus/<target>/ (plus scenarios/builtin/ for the scenario reader); they are only read.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

all=(protocol_answers client_answers mock_api_requests actors_strategy scenarios_file
     generate_batch_file generate_journal)
runs=10000000
timeout=25
seconds=""
out=""
build=1
targets=()
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --time) seconds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (allowed --runs N, --time S, --out DIR, --timeout S, --no-build)" >&2
        exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || {
    echo "fuzz.sh: unknown target $t (allowed ${all[*]})" >&2
    exit 2
  }
done
if [[ -n $seconds && ! $seconds =~ ^[1-9][0-9]*$ ]] || [[ ! $runs =~ ^[1-9][0-9]*$ ]] ||
   [[ ! $timeout =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: --runs, --time and --timeout take a positive whole number" >&2
  exit 2
fi

if ((build)); then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz
fi
keep_out=1
if [[ -z $out ]]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/zbatch-fuzz-XXXXXX")
  keep_out=0
fi
mkdir -p "$out"

budget=(-runs="$runs")
[[ -z $seconds ]] || budget=(-max_total_time="$seconds")
failed=0
rows=()
for t in "${targets[@]}"; do
  seeds=("fuzz/corpus/$t")
  [[ $t != scenarios_file ]] || seeds+=(scenarios/builtin)
  mkdir -p "$out/$t"
  start=$(date +%s%N)
  status=0
  # -timeout: one input taking this long is a hang, reported like a crash.
  "build/fuzz/fuzz/fuzz_$t" "${budget[@]}" -timeout="$timeout" -print_final_stats=1 \
    -artifact_prefix="$out/$t-" "$out/$t" "${seeds[@]}" >"$out/$t.log" 2>&1 || status=$?
  ms=$((($(date +%s%N) - start) / 1000000 + 1))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -1)
  crashes=$(find "$out" -maxdepth 1 -name "$t-*" | wc -l)
  if ((status != 0 && crashes == 0)); then
    crashes=1  # died without an artifact (e.g. a failure while loading the seeds)
  fi
  if ((crashes)); then
    failed=1
    echo "== fuzz_$t: found a crash (log $out/$t.log):" >&2
    grep -m1 -A12 -E "ERROR: |runtime error|readers disagree|deadly signal" "$out/$t.log" >&2 || tail -20 "$out/$t.log" >&2
  fi
  rows+=("$(printf '%-22s %12s %7d.%d %10d %8s' "$t" "${execs:-0}" $((ms / 1000)) \
    $((ms % 1000 / 100)) $((${execs:-0} * 1000 / ms)) "$crashes")")
done

printf '%-22s %12s %9s %10s %8s\n' target executions "time s" "execs/s" crashes
printf '%s\n' "${rows[@]}"
if ((failed)); then
  echo "fuzz.sh: a target found a crash; inputs and logs are in $out" >&2
  exit 1
fi
((keep_out)) || rm -rf "$out"
