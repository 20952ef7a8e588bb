#!/usr/bin/env bash
# The yardstick's cost and the targets of issue 13: runs every built-in scenario in sim mode with
# its hindsight grid (28 static strategies on the same seeds), prints the wall time of the whole
# sweep (target: at most 60 s on the 2-core machine), then the targets table for `adaptive`.
#
# usage: bench/hindsight.sh ZBATCH [RESULTS_DIR] [--repeat N --seed S] [--no-run]
#   ZBATCH        the built zbatch executable
#   RESULTS_DIR   where RESULTS_DIR/<scenario>/results.json go (default: a temporary directory)
#   --repeat N    N repetitions per scenario instead of each scenario's own (1 to 5)
#   --seed S      first seed S instead of each scenario's own: seeds the baselines never saw
#   --no-run      print the table from results already in RESULTS_DIR (no timing)
#
# Why held-out seeds: the scenarios' own 1-5 repetitions are the seeds a change is tuned on (and
# the baselines hold), and the hindsight-best is the fastest of 28 noisy means. A change that
# only wins there is fitted to those seeds: `--repeat 20 --seed 1000` is the check before
# believing a better table (a 60 s target applies to the default sweep only).
#
# Targets (issue 13), per built-in scenario, adaptive against the hindsight-best static strategy:
#   makespan ≤ 1.10 × the hindsight-best's; deliverable success ≥ the hindsight-best's − 0.5
#   point; ≤ 1.05 paid submits and ≤ 1 dynamic 429 per delivered image. On `step`: in flight
#   within 20% of the new limit within 3 task durations of each step (here: the share of the time
#   from 3 task durations after a step to the next step, or to the last submit, that adaptive's
#   first repetition spends within ±20%; met at 90% or more). On `flaky`: ≥ 99% of deliverable
#   images delivered and makespan ≤ 3 × the (fault-free) bound. The last column, adaptive's
#   makespan over the clairvoyant's, is shown where the limit is a schedule (no target).
# The '95% interval' column is the ratio's paired interval over the repetitions (the same seeds
# for both; Student's t for n - 1 degrees of freedom, not 1.96: 3-5 repetitions are few; '-'
# under 3 repetitions); '(within noise)' marks a verdict whose interval holds 1.10:
# a 'yes' or a '**no**' there could go either way on other seeds (check with --repeat 20).
# Not a timed test: it prints, it does not fail (exit 2 only when a run could not complete).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
usage() { sed -n '6,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
zbatch=$1
shift
results_dir=""
run=1
overrides=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-run) run=0; shift ;;
    --repeat|--seed)
      [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || { echo "hindsight: $1 takes a whole number" >&2; usage; }
      overrides+=("$1" "$2"); shift 2 ;;
    -*) echo "hindsight: unknown option '$1'" >&2; usage ;;
    *) results_dir=$1; shift ;;
  esac
done
if [[ -z $results_dir ]]; then
  [[ $run -eq 1 ]] || usage
  results_dir=$(mktemp -d)
  trap 'rm -rf "$results_dir"' EXIT
fi
if [[ $run -eq 1 && ! -x $zbatch ]]; then
  echo "hindsight: $zbatch: not an executable (pass the built zbatch)" >&2
  exit 2
fi
if [[ $run -eq 1 ]] && ! mkdir -p "$results_dir"; then
  echo "hindsight: cannot create the results directory $results_dir" >&2
  exit 2
fi
if [[ $run -eq 0 ]] && ! compgen -G "$results_dir/*/results.json" > /dev/null; then
  echo "hindsight: no results in $results_dir (run without --no-run first)" >&2
  exit 2
fi
# The sweep's timing below sends the block's standard error to a file: runs report on fd 3.
exec 3>&2

scenarios=("$root"/scenarios/builtin/*.json)
# One scenario: its wall time on a line.
run_one() {
  local scenario=$1 name
  name=$(basename "$scenario" .json)
  local one
  one=$(date +%s.%N)
  "$zbatch" scenario run "$scenario" --mode sim --quiet ${overrides[@]+"${overrides[@]}"} \
    --out "$results_dir/$name" > /dev/null 2>&3
  local status=$?
  if [[ $status -gt 1 ]]; then
    echo "hindsight: $name: zbatch scenario run exited with $status" >&3
    return 2
  fi
  printf '%-16s %6.2f s\n' "$name" "$(echo "$(date +%s.%N) - $one" | bc)"
}

if [[ $run -eq 1 ]]; then
  # Wall, user and system seconds of the whole sweep (bash's `time` counts the children): on a
  # machine shared with other work the wall time grows, the CPU time does not.
  TIMEFORMAT='%R %U %S'
  { time { for scenario in "${scenarios[@]}"; do run_one "$scenario" || exit 2; done; } 2> /dev/null; } \
    2> "$results_dir/.times" || exit 2
  read -r wall user sys < "$results_dir/.times"
  printf '\nall %d built-in scenarios with their hindsight grids, sim: %.1f s wall, %.1f s CPU' \
    "${#scenarios[@]}" "$wall" "$(echo "$user + $sys" | bc)"
  target="target: at most 60 s wall on $(nproc) cores"
  ((${#overrides[@]} == 0)) || target="--repeat/--seed given: the 60 s target is the default sweep's"
  printf ' (%s; load average now %s)\n\n' "$target" "$(cut -d' ' -f1 /proc/loadavg)"
fi

python3 - "$results_dir" "${scenarios[@]}" <<'PY'
import json, os, re, sys

results_dir, files = sys.argv[1], sys.argv[2:]

def strategy(doc, name):
    return next((s for s in doc["strategies"] if s["name"] == name), None)

def mark(ok):
    return "yes" if ok else "**no**"

def in_flight_intervals(records):
    """[start, end) of each accepted task as the client saw it: accepted to its last poll."""
    out = []
    for record in records:
        start = None
        for event in record["trace"]:
            if event["event"] == "accepted":
                start = event["t_ms"]
            elif start is not None and (
                    (event["event"] == "poll" and event["detail"] in ("SUCCEED", "FAILED"))
                    or event["event"] in ("error", "failed", "cancelled", "delivered")):
                out.append((start, event["t_ms"]))
                start = None
        if start is not None:
            out.append((start, record["finished_at_ms"]))
    return out

def steps_of(scenario):
    """[(at_ms, new_limit, next_at_ms or None)] of a one-window schedule over a guaranteed cap."""
    throttle = scenario["profile"].get("overrides", {}).get("throttle", {})
    windows = throttle.get("dynamic", {}).get("schedule", [])
    if len(windows) != 1:
        return []
    base = throttle.get("in_flight_cap", 1)  # the free tier's guaranteed cap
    w = windows[0]
    up, down = int(w["from_s"] * 1000), int(w["to_s"] * 1000)
    return [(up, base + w["capacity"], down), (down, base, None)]

def step_check(doc, adaptive, scenario):
    """The share of each step's settling window adaptive spends within ±20% of the limit."""
    match = re.search(r"(\d+) ms per", doc["bound"]["explanation"])
    steps = steps_of(scenario)
    if not doc.get("clairvoyant") or not match or not steps:
        return None
    task_ms = int(match.group(1))
    records = adaptive["image_records"]
    intervals = in_flight_intervals(records)
    submits = [e["t_ms"] for r in records for e in r["trace"] if e["event"] == "submit"]
    last_submit = max(submits) if submits else 0
    parts = []
    for at, limit, next_at in steps:
        begin = at + 3 * task_ms
        end = min(next_at or last_submit, last_submit)
        if end <= begin:
            parts.append(f"{limit} at {at // 1000} s: no backlog left to hold")
            continue
        inside = 0
        for t in range(begin, end, 100):
            n = sum(1 for s, e in intervals if s <= t < e)
            inside += abs(n - limit) <= 0.2 * limit
        share = inside / len(range(begin, end, 100))
        parts.append(f"{limit} at {at // 1000} s: {share:.0%} of the time within 20% "
                     f"({mark(share >= 0.9)})")
    return "; ".join(parts)

# Two-sided 95% quantiles of Student's t by degrees of freedom (n - 1 for n repetitions): with
# 3-5 repetitions z = 1.96 made the interval 1.4 to 2.2 times too narrow (t is 4.30 at 2 degrees).
T95 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
       18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}

def t95(df):
    """The t quantile for df degrees of freedom: the table's, else that of the largest tabled
    df at or below it (slightly wider, so on the safe side), 1.96 beyond 120."""
    if df > 120:
        return 1.96
    return T95[max(k for k in T95 if k <= df)]

def paired_interval(adaptive, best):
    """95% interval of mean(adaptive) / mean(best) over the same seeds (delta method, paired).

    The repetitions share seeds, so each seed's pair moves together; d_i = a_i - R b_i has mean 0
    at the ratio R, and sd(d) / (sqrt(n) mean(b)) is the ratio's standard error, scaled by
    Student's t for n - 1 degrees of freedom (sd is estimated from n pairs). None under 3
    pairs. The hindsight-best is also the fastest of many noisy means: its own luck (a winner's
    curse) is not in this interval, so the true gap is if anything smaller."""
    a = [run["makespan_ms"] for run in adaptive.get("runs", [])]
    b = best.get("runs_makespan_ms") or []
    if len(a) != len(b) or len(a) < 3:
        return None
    n = len(a)
    ratio = (sum(a) / n) / (sum(b) / n)
    d = [x - ratio * y for x, y in zip(a, b)]
    mean_d = sum(d) / n
    sd = (sum((x - mean_d) ** 2 for x in d) / (n - 1)) ** 0.5
    se = sd / (n ** 0.5 * (sum(b) / n))
    t = t95(n - 1)
    return ratio - t * se, ratio + t * se

def ratio_cell(ratio, interval):
    """The ratio, its interval, and whether 1.10 is inside it (the verdict is then noise)."""
    if interval is None:
        return f"{ratio:.2f} {mark(ratio <= 1.10)} | -"
    low, high = round(interval[0], 2), round(interval[1], 2)  # judged as printed
    noise = " (within noise)" if low <= 1.10 < high else ""
    return f"{ratio:.2f} {mark(ratio <= 1.10)}{noise} | {low:.2f}-{high:.2f}"

rows = []
notes = []
runs = set()
for path in files:
    name = os.path.basename(path)[:-5]
    results = os.path.join(results_dir, name, "results.json")
    if not os.path.exists(results):
        rows.append(f"| {name} | (no results) ||||||||||")
        continue
    doc = json.load(open(results))
    runs.add(f"seed {doc['seed']}, {doc['repetitions']} repetitions")
    adaptive = strategy(doc, "adaptive")
    best = (doc.get("hindsight") or {}).get("best")
    if adaptive is None or best is None:
        rows.append(f"| {name} | (no adaptive or no hindsight-best) ||||||||||")
        continue
    ratio = adaptive["makespan_ms"] / best["makespan_ms"]
    success = adaptive.get("deliverable_success_rate")
    floor = best["deliverable_success_rate"] - 0.005
    submits = adaptive["submits_per_image"]
    per_429 = adaptive.get("dynamic_429_per_image")
    relaxed = doc["hindsight"].get("relaxed") or []
    met = (ratio <= 1.10 and success is not None and success >= floor - 1e-9
           and submits is not None and submits <= 1.05 and per_429 is not None and per_429 <= 1)
    clairvoyant = doc.get("clairvoyant")
    versus = (f"{adaptive['makespan_ms'] / clairvoyant['makespan_ms']:.2f}"
              if clairvoyant else "-")
    rows.append(
        f"| {name} | {best['name']}{' (budget raised: ' + ', '.join(relaxed) + ')' if relaxed else ''}"
        f" | {best['makespan_ms'] / 1000:.1f} s | {adaptive['makespan_ms'] / 1000:.1f} s"
        f" | {ratio_cell(ratio, paired_interval(adaptive, best))}"
        f" | {success * 100 if success is not None else float('nan'):.1f}% vs {floor * 100:.1f}%"
        f" {mark(success is not None and success >= floor - 1e-9)}"
        f" | {submits if submits is not None else float('nan'):.2f} {mark(submits is not None and submits <= 1.05)}"
        f" | {per_429 if per_429 is not None else float('nan'):.2f} {mark(per_429 is not None and per_429 <= 1)}"
        f" | {mark(met)} | {versus} |")
    if name == "step":
        check = step_check(doc, adaptive, json.load(open(path)))
        if check:
            notes.append(f"step, adaptive in flight after each step (first repetition): {check}")
    if name == "flaky":
        bound = doc["bound"]["makespan_ms"]
        notes.append(
            f"flaky, adaptive: {success * 100:.1f}% of deliverable images delivered (target >= 99%:"
            f" {mark(success >= 0.99)}); makespan {adaptive['makespan_ms'] / 1000:.1f} s ="
            f" {adaptive['makespan_ms'] / bound:.1f} x the fault-free bound of {bound / 1000:.1f} s"
            f" (target <= 3: {mark(adaptive['makespan_ms'] <= 3 * bound)})")

if len(runs) == 1:
    print(f"(every scenario: {runs.pop()})\n")
print("95% interval: paired, Student's t for the repetitions' degrees of freedom (n - 1)\n")
print("| scenario | hindsight-best | its makespan | adaptive | ratio (<= 1.10) | 95% interval |"
      " deliverable success (>= best - 0.5 pt) | submits/img (<= 1.05) |"
      " dynamic 429/img (<= 1) | all met | adaptive / clairvoyant |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
print("\n".join(rows))
if notes:
    print()
    for note in notes:
        print("- " + note)
PY
