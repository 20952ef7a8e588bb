#!/usr/bin/env bash
# Builds zbatch and runs every test: the formatting check, then every test once under
# ASan+UBSan (the `asan` workflow, which also builds the benchmarks), then the regression gate on
# the built-in scenarios (sim mode against reports/baseline, with that build's zbatch: sim results
# are byte-identical to the optimised binary's, checked when this changed, and the sweep runs
# under the sanitizers too), then the actor and generate tests under ThreadSanitizer (the
# `tsan-ci` workflow), then every fuzz target of fuzz/ for 5 s (the `fuzz` preset,
# scripts/fuzz.sh; a crash or sanitizer report fails). What CI runs (.ci/run). Needs Debian 12;
# installs missing packages when run as root. Why no optimised build: a second build took a
# sixth to a half of CI's 30 minutes on 2 cores, and the sanitizer build catches everything the
# plain one would (`cmake --workflow --preset default` is the optimised one, for local work).
# `cmake --workflow --preset default` runs the suite optimised, for local work. The asan, tsan
# and fuzz presets are unity builds (8 sources per translation unit: README, Tests), which halve
# their compile time (CI on a fresh clone: 1,704 s one file per unit, 1,055 s unity).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh

echo "== clang-format check of tracked C++ files"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc')
if ((${#sources[@]})); then
  clang-format --dry-run --Werror "${sources[@]}"
fi

start=$SECONDS
echo "== asan preset (ASan+UBSan): configure, build (tests, zbatch, benchmarks), test"
cmake --workflow --preset asan
echo "== asan stage took $((SECONDS - start)) s"
echo "== regression gate: built-in scenarios in sim mode against reports/baseline (asan zbatch)"
gate_start=$SECONDS
bash scripts/check-baseline.sh build/asan/cli/zbatch build/asan/scenario-results
echo "== gate stage took $((SECONDS - gate_start)) s"
echo "== tsan preset (ThreadSanitizer), CI subset: configure, build and test actors_test, generate_test"
# Only the tests labelled tsan_ci (the actor layer on the real and the testing scheduler, and the
# generate session over it; not sim_test, one thread in virtual time), because CI has 30 minutes on 2 cores: building all five components the
# preset covers under TSan took 702 s of CPU and the whole suite ran 673 s, while this subset is
# about half the build and under 2 minutes of tests. `cmake --workflow --preset tsan` runs them all,
# the CLI tests included, with 0 reports (cli_test alone took 4 min 16 s here; README, Tests).
tsan_start=$SECONDS
cmake --workflow --preset tsan-ci
echo "== tsan stage took $((SECONDS - tsan_start)) s"
echo "== fuzz preset (clang, libFuzzer + ASan + UBSan): build, each target for 5 s"
fuzz_start=$SECONDS
bash scripts/fuzz.sh --time 5
echo "== fuzz stage took $((SECONDS - fuzz_start)) s"
echo "== all tests passed in $((SECONDS - start)) s (build and tests; package installation before)"
