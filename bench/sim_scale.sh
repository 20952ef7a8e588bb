#!/usr/bin/env bash
# Whole-program sim-mode scale: IMAGES images under the six presets, wall time and peak memory.
#
#   bench/sim_scale.sh PATH/TO/zbatch [IMAGES=100000]
#
# Builds nothing. Writes a scenario (the free tier's behaviour without its daily quota and daily
# call limits, as burst-1000 has it: with them every strategy stopped near 500 images; one batch
# of IMAGES images, serial / concurrent / bounded / retry / token-bucket / adaptive, seed 1) and
# runs `zbatch scenario run` in sim mode twice under /usr/bin/time:
#  - with one thread per core (the default), the figure issue 5 sets a target for
#    (at most 5 s and 300 MB for 100,000 images on the 2-core machine);
#  - with --threads 1, the peer in the same run: the ratio is what running strategies side by
#    side buys, and the two results.json files must be byte-identical (the output does not
#    depend on the thread count).
# Prints wall seconds, user CPU seconds and peak RSS (MiB) of both, and the ratio.
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
  echo "usage: $0 PATH/TO/zbatch [IMAGES=100000]" >&2
  exit 2
fi
zbatch=$1
images=${2:-100000}
if ! [[ $images =~ ^[0-9]+$ && $images -ge 1 && $images -le 1000000 ]]; then
  echo "$0: IMAGES must be 1..1000000 (got '$images')" >&2
  exit 2
fi
if [[ ! -x /usr/bin/time ]]; then
  echo "$0: /usr/bin/time is missing (apt-get install time)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/scale.json" <<JSON
{"version": 1, "name": "sim-scale",
 "description": "bench/sim_scale.sh: $images images under the six presets",
 "profile": {"name": "modelscope-free", "overrides": {"throttle": {"quota": {"enabled": false}, "daily_limits": {"enabled": false}}}},
 "workload": {"batches": 1, "images_per_batch": $images},
 "strategies": ["serial", "concurrent", "bounded", "retry", "token-bucket", "adaptive"],
 "repetitions": 1, "seed": 1}
JSON

# Prints "wall user rss_kib" of one run (the strategies only: the hindsight grid would play 28
# more strategies, and bench/hindsight.sh measures that).
measure() {
  local out=$1
  shift
  /usr/bin/time -f '%e %U %M' -o "$work/time" \
    "$zbatch" scenario run "$work/scale.json" --out "$out" --quiet --no-hindsight "$@" > /dev/null
  cat "$work/time"
}

read -r wall user rss < <(measure "$work/parallel")
read -r wall1 user1 rss1 < <(measure "$work/single" --threads 1)
if ! cmp -s "$work/parallel/results.json" "$work/single/results.json"; then
  echo "$0: results.json differs between the default thread count and --threads 1" >&2
  exit 1
fi

echo "sim mode, $images images x 6 strategies (modelscope-free without quota or daily limits), $(nproc) cores"
# The figure measures the workload only if the strategies played it: a profile that stops
# sending (a daily limit) makes every run short and the figure meaningless.
/usr/bin/python3 - "$work/parallel/results.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
short = []
for s in results["strategies"]:
    sent = sum(s["requests"].get("submit", {}).values())
    print(f"  {s['name']:13} delivered {s['delivered']:>9.0f} of {s['images']:.0f}, {sent:.0f} submits")
    if sent < 0.9 * s["images"]:
        short.append(s["name"])
if short:
    print(f"sim_scale: {', '.join(short)} sent fewer submits than 90% of the images: the run did "
          "not play the workload (a limit of the profile stopped it)", file=sys.stderr)
    sys.exit(1)
PY
/usr/bin/python3 - "$wall" "$user" "$rss" "$wall1" "$user1" "$rss1" <<'PY'
import sys
wall, user, rss, wall1, user1, rss1 = map(float, sys.argv[1:])
print(f"one thread per core: {wall:6.2f} s wall, {user:6.2f} s CPU, {rss / 1024:6.0f} MiB peak RSS")
print(f"one thread (peer):   {wall1:6.2f} s wall, {user1:6.2f} s CPU, {rss1 / 1024:6.0f} MiB peak RSS")
print(f"speed-up over one thread: {wall1 / wall:.2f}x; results byte-identical")
PY
