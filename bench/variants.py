#!/usr/bin/env python3
"""Adaptive's default beside variants of it, on one built-in scenario, in sim mode.

The quick loop before `bench/hindsight.sh --repeat 20 --seed 1000` (issue 13): a change to the
adaptive strategy that a spec can express (or a binary built with the change) is compared with
the default on seeds the baselines never saw, in about a second per scenario. It prints mean
makespan, deliverable success, paid submits, dynamic 429s and polls per delivered image; no hindsight
grid (the grid's best does not depend on adaptive: read it from hindsight.sh's table).

usage: bench/variants.py ZBATCH SCENARIO [LABEL=EDITS ...] [--seed S] [--repeat N]
  ZBATCH     the built zbatch executable
  SCENARIO   a built-in scenario's name (zbatch scenario list)
  LABEL=EDITS  a variant of adaptive's compact spec: EDITS is 'old->new' replacements separated
             by ';', each 'old' found exactly once (e.g. 'p250=poll=1s->poll=250ms'), or
             '=SPEC' for a whole spec of its own (checked by zbatch strategy show)
  --seed S   first seed (default 1000: held out)      --repeat N  repetitions (default 20)

example: bench/variants.py build/default/cli/zbatch brownout 'cap2=max=256->max=2'
Prints each variant's spec, then the table. Exit 2 on bad usage (a missing zbatch, an unknown
scenario, an edit whose 'old' is not in the spec once, a spec zbatch refuses: each named with
its label); 3 when the run fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def fail(message, code=2):
    print(f"variants.py: {message}", file=sys.stderr)
    sys.exit(code)


def polls_per_image(strategy):
    """Poll requests (every answer) per delivered image: what a poll schedule costs."""
    polls = sum(strategy["requests"].get("poll", {}).values())
    return polls / max(strategy["delivered"], 1e-9)


def adaptive_spec(zbatch):
    """The default spec, every knob spelled out, as `zbatch strategy show adaptive` prints it."""
    shown = subprocess.run([zbatch, "strategy", "show", "adaptive"], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for i, line in enumerate(shown):
        if line.startswith("Compact spec") and i + 1 < len(shown):
            return shown[i + 1].strip()
    fail("could not read adaptive's compact spec from 'zbatch strategy show adaptive'", 3)


def variant(zbatch, base, argument):
    label, sep, edits = argument.partition("=")
    if not sep or not label:
        fail(f"'{argument}': a variant is LABEL=EDITS (see --help)")
    if label == "adaptive":
        fail("'adaptive' is the default's label: give the variant another")
    if edits.startswith("="):
        spec = edits[1:]
    else:
        spec = base
        for edit in filter(None, edits.split(";")):
            old, arrow, new = edit.partition("->")
            if not arrow:
                fail(f"{label}: '{edit}' is not an 'old->new' replacement")
            if old not in spec:
                fail(f"{label}: '{old}' is not in adaptive's spec ({base})")
            if spec.count(old) > 1:
                fail(f"{label}: '{old}' is more than once in adaptive's spec ({base}): "
                     "make it unique")
            spec = spec.replace(old, new)
    # The spec is checked here, so its error names the variant, not a temporary file.
    shown = subprocess.run([zbatch, "strategy", "show", spec], capture_output=True, text=True)
    if shown.returncode != 0:
        fail(f"{label}: {spec}: {shown.stderr.strip().splitlines()[0]}")
    return {"label": label, "spec": spec}


def main():
    parser = argparse.ArgumentParser(
        usage=__doc__.split("usage: ")[1].split("\n")[0],
        description=__doc__.split("usage: ")[0].strip(),
        epilog="\n".join(line for line in __doc__.splitlines()
                          if line.startswith(("  LABEL=EDITS", "             ", "example:"))),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zbatch", help="the built zbatch executable")
    parser.add_argument("scenario", help="a built-in scenario's name (zbatch scenario list)")
    parser.add_argument("variants", nargs="*", metavar="LABEL=EDITS",
                        help="a variant of adaptive's spec (below)")
    parser.add_argument("--seed", type=int, default=1000, metavar="S",
                        help="first seed (default 1000: seeds the baselines never saw)")
    parser.add_argument("--repeat", type=int, default=20, metavar="N",
                        help="repetitions, 1..1000 (default 20)")
    args = parser.parse_intermixed_args()
    if not 1 <= args.repeat <= 1000:
        fail(f"--repeat must be from 1 to 1000 (got {args.repeat})")
    if args.seed < 0:
        fail(f"--seed must be 0 or more (got {args.seed})")
    labels = [v.partition("=")[0] for v in args.variants]
    for label in labels:
        if labels.count(label) > 1:
            fail(f"label '{label}' is given {labels.count(label)} times: each variant needs its own")
    if not (os.path.isfile(args.zbatch) and os.access(args.zbatch, os.X_OK)):
        fail(f"{args.zbatch}: not an executable file (build zbatch first)")
    if os.sep in args.scenario or args.scenario.startswith("."):
        fail(f"'{args.scenario}': a built-in scenario's name, not a path (zbatch scenario list)")
    builtin = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "scenarios", "builtin", args.scenario + ".json")
    if not os.path.isfile(builtin):
        fail(f"'{args.scenario}' is not a built-in scenario (no {builtin}; zbatch scenario list)")
    base = adaptive_spec(args.zbatch)
    strategies = [{"label": "adaptive", "spec": base}]
    strategies += [variant(args.zbatch, base, v) for v in args.variants]
    with tempfile.TemporaryDirectory() as work:
        exported = os.path.join(work, "scenario.json")
        scenario = json.load(open(builtin))
        scenario["strategies"] = strategies
        scenario["thresholds"] = []
        json.dump(scenario, open(exported, "w"))
        out = os.path.join(work, "out")
        run = subprocess.run([args.zbatch, "scenario", "run", exported, "--out", out, "--seed",
                              str(args.seed), "--repeat", str(args.repeat), "--no-hindsight",
                              "--quiet"], capture_output=True, text=True)
        if run.returncode not in (0, 1):
            fail(f"zbatch scenario run failed: {run.stderr.strip()}", 3)
        results = json.load(open(os.path.join(out, "results.json")))
    print(f"{args.scenario}, sim, seeds {args.seed}..{args.seed + args.repeat - 1}")
    for s in strategies:
        print(f"  {s['label']}: {s['spec']}")
    print(f"{'strategy':12} {'makespan s':>10} {'deliverable':>11} {'paid/img':>8} "
          f"{'429/img':>7} {'polls/img':>9}")
    for s in results["strategies"]:
        print(f"{s['name']:12} {s['makespan_ms'] / 1000:10.1f} "
              f"{100 * s['deliverable_success_rate']:10.1f}% {s['submits_per_image']:8.3f} "
              f"{s['dynamic_429_per_image']:7.2f} {polls_per_image(s):9.2f}")


if __name__ == "__main__":
    main()
