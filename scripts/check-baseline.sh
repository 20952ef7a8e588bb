#!/usr/bin/env bash
# The CI regression gate: runs every built-in scenario in sim mode and compares each fresh
# results.json with the committed baseline reports/baseline/<scenario>.json.
#
# usage: scripts/check-baseline.sh ZBATCH RESULTS_DIR [options] [-- COMPARE_OPTIONS...]
#   ZBATCH              the built zbatch executable
#   RESULTS_DIR         where fresh results go (RESULTS_DIR/<scenario>/results.json) and where the
#                       combined Markdown summary is written (RESULTS_DIR/compare.md)
#   --scenarios-dir D   scenario files to run (default: scenarios/builtin)
#   --baseline-dir D    baselines (default: reports/baseline)
#   --no-run            do not run scenarios; compare results already in RESULTS_DIR
#   COMPARE_OPTIONS     passed to `zbatch report compare` (e.g. --max-regression 5)
#
# Exit: 0 no regression; 1 a regression (or a scenario run that failed its thresholds);
# 2 bad setup (no scenario, a missing baseline, a run or compare that could not complete).
# See reports/README.md.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

usage() { sed -n '5,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 2 ]] || usage
zbatch=$1
results_dir=$2
shift 2
scenarios_dir="$root/scenarios/builtin"
baseline_dir="$root/reports/baseline"
run=1
compare_options=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --scenarios-dir) scenarios_dir=${2:?--scenarios-dir needs a directory}; shift 2 ;;
    --baseline-dir) baseline_dir=${2:?--baseline-dir needs a directory}; shift 2 ;;
    --no-run) run=0; shift ;;
    --) shift; compare_options=("$@"); break ;;
    *) echo "check-baseline: unknown option '$1'" >&2; usage ;;
  esac
done

if [[ ! -x $zbatch ]]; then
  echo "check-baseline: $zbatch: not an executable (pass the built zbatch)" >&2
  exit 2
fi
shopt -s nullglob
scenarios=("$scenarios_dir"/*.json)
if [[ ${#scenarios[@]} -eq 0 ]]; then
  echo "check-baseline: no scenario files (*.json) in $scenarios_dir" >&2
  exit 2
fi
mkdir -p "$results_dir" || exit 2
summary="$results_dir/compare.md"
: > "$summary"

regressions=0
errors=0
for scenario in "${scenarios[@]}"; do
  name=$(basename "$scenario" .json)
  out="$results_dir/$name"
  if [[ $run -eq 1 ]]; then
    rm -rf "$out"
    "$zbatch" scenario run "$scenario" --mode sim --out "$out"
    status=$?
    if [[ $status -eq 1 ]]; then
      echo "check-baseline: $name: thresholds failed (see $out/junit.xml)" >&2
      regressions=$((regressions + 1))
    elif [[ $status -ne 0 ]]; then
      echo "check-baseline: $name: zbatch scenario run exited with $status" >&2
      errors=$((errors + 1))
      continue
    fi
  fi
  if [[ ! -f $out/results.json ]]; then
    echo "check-baseline: $name: no $out/results.json" >&2
    errors=$((errors + 1))
    continue
  fi
  baseline="$baseline_dir/$name.json"
  if [[ ! -f $baseline ]]; then
    echo "check-baseline: $name: no baseline $baseline; create it with" \
         "scripts/refresh-baseline.sh $zbatch $name" >&2
    errors=$((errors + 1))
    continue
  fi
  "$zbatch" report compare "$baseline" "$out/results.json" --markdown "$out/compare.md" \
    "${compare_options[@]}"
  status=$?
  cat "$out/compare.md" >> "$summary" 2>/dev/null
  echo >> "$summary"
  case $status in
    0) ;;
    1) regressions=$((regressions + 1)) ;;
    *) errors=$((errors + 1)) ;;
  esac
done

echo "check-baseline: ${#scenarios[@]} scenario(s), $regressions with a regression," \
     "$errors error(s); summary in $summary" >&2
if [[ $errors -gt 0 ]]; then
  exit 2
fi
if [[ $regressions -gt 0 ]]; then
  echo "check-baseline: if the change is intended, refresh the baseline:" \
       "scripts/refresh-baseline.sh $zbatch" >&2
  exit 1
fi
exit 0
