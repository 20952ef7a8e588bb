#!/usr/bin/env bash
# Builds zbatch and runs every test: the formatting check, the `gate` preset (the optimised
# zbatch binary and the benchmarks, no tests), the regression gate on the built-in scenarios (sim
# mode against reports/baseline with that binary), then every test once, under ASan+UBSan (the
# `asan` workflow), then the actor, sim and generate tests under ThreadSanitizer (the `tsan-ci`
# workflow), then every fuzz target of fuzz/ for 5 s (the `fuzz` preset, scripts/fuzz.sh; a
# crash or sanitizer report fails). What CI runs (.ci/run). Needs Debian 12; installs missing
# packages when run as root. Why the suite is not also built optimised: two builds of the tests
# took half of CI's 30 minutes on 2 cores, and the sanitizer run catches everything the plain one
# would.
# `cmake --workflow --preset default` runs the suite optimised, for local work.
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
echo "== gate preset: configure, build (zbatch and the benchmarks)"
cmake --preset gate
cmake --build --preset gate
echo "== regression gate: built-in scenarios in sim mode against reports/baseline"
bash scripts/check-baseline.sh build/gate/cli/zbatch build/gate/scenario-results
echo "== gate stage took $((SECONDS - start)) s"
echo "== asan preset (ASan+UBSan): configure, build, test"
asan_start=$SECONDS
cmake --workflow --preset asan
echo "== asan stage took $((SECONDS - asan_start)) s"
echo "== tsan preset (ThreadSanitizer), CI subset: configure, build and test actors_test, generate_test"
# Only the tests labelled tsan_ci (the actor layer on the real and the testing scheduler, and the
# generate session over it; not sim_test, one thread in virtual time), because CI has 30 minutes on 2 cores: building all five components the
# preset covers under TSan took 702 s of CPU and the whole suite ran 673 s, while this subset is
# about half the build and under 2 minutes of tests. `cmake --workflow --preset tsan` runs them all.
tsan_start=$SECONDS
cmake --workflow --preset tsan-ci
echo "== tsan stage took $((SECONDS - tsan_start)) s"
echo "== fuzz preset (clang, libFuzzer + ASan + UBSan): build, each target for 5 s"
fuzz_start=$SECONDS
bash scripts/fuzz.sh --time 5
echo "== fuzz stage took $((SECONDS - fuzz_start)) s"
echo "== all tests passed in $((SECONDS - start)) s (build and tests; package installation before)"
