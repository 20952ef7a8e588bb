#!/usr/bin/env bash
# Refreshes the committed baselines reports/baseline/<scenario>.json from fresh sim runs, for
# a change that is meant to alter the results. Review `git diff reports/baseline` and commit.
#
# usage: scripts/refresh-baseline.sh ZBATCH [options] [SCENARIO_NAME...]
#   ZBATCH              the built zbatch executable
#   SCENARIO_NAME       refresh only these (file stems in the scenarios dir); default all
#   --scenarios-dir D   scenario files (default: scenarios/builtin)
#   --baseline-dir D    where baselines go (default: reports/baseline)
#   --no-verify         skip the second run that checks the results are byte-identical
#
# Sim runs are deterministic, so each scenario is run twice and the results must match byte for
# byte: a baseline that changes from run to run would make the gate flaky.
# Exit: 0 done; 2 a run failed, results differed, or bad usage.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

usage() { sed -n '5,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
zbatch=$1
shift
scenarios_dir="$root/scenarios/builtin"
baseline_dir="$root/reports/baseline"
verify=1
names=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --scenarios-dir) scenarios_dir=${2:?--scenarios-dir needs a directory}; shift 2 ;;
    --baseline-dir) baseline_dir=${2:?--baseline-dir needs a directory}; shift 2 ;;
    --no-verify) verify=0; shift ;;
    -*) echo "refresh-baseline: unknown option '$1'" >&2; usage ;;
    *) names+=("$1"); shift ;;
  esac
done
if [[ ! -x $zbatch ]]; then
  echo "refresh-baseline: $zbatch: not an executable (pass the built zbatch)" >&2
  exit 2
fi
shopt -s nullglob
if [[ ${#names[@]} -eq 0 ]]; then
  for file in "$scenarios_dir"/*.json; do
    names+=("$(basename "$file" .json)")
  done
fi
if [[ ${#names[@]} -eq 0 ]]; then
  echo "refresh-baseline: no scenario files (*.json) in $scenarios_dir" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$baseline_dir" || exit 2

for name in "${names[@]}"; do
  scenario="$scenarios_dir/$name.json"
  if [[ ! -f $scenario ]]; then
    echo "refresh-baseline: $scenario: no such scenario" >&2
    exit 2
  fi
  runs=(first)
  [[ $verify -eq 1 ]] && runs+=(second)
  for attempt in "${runs[@]}"; do
    "$zbatch" scenario run "$scenario" --mode sim --out "$work/$name-$attempt"
    status=$?
    # Exit 1 means thresholds failed: the results are still the baseline to keep.
    if [[ $status -gt 1 || ! -f $work/$name-$attempt/results.json ]]; then
      echo "refresh-baseline: $name: zbatch scenario run exited with $status" >&2
      exit 2
    fi
  done
  if [[ $verify -eq 1 ]] &&
     ! cmp -s "$work/$name-first/results.json" "$work/$name-second/results.json"; then
    echo "refresh-baseline: $name: two sim runs gave different results.json; the runner is not" \
         "deterministic, so no baseline was written" >&2
    exit 2
  fi
  # The gate compares figures, never per-image records: keeping the traces out keeps the
  # committed baselines small and their diffs readable.
  python3 - "$work/$name-first/results.json" "$baseline_dir/$name.json" <<'PY' || exit 2
import json, sys
with open(sys.argv[1]) as f:
    results = json.load(f)
for strategy in results.get("strategies", []):
    strategy["image_records"] = []
with open(sys.argv[2], "w") as f:
    json.dump(results, f, indent=2)
    f.write("\n")
PY
  echo "refresh-baseline: wrote $baseline_dir/$name.json" >&2
done
echo "refresh-baseline: review with 'git diff -- $baseline_dir' and commit" >&2
