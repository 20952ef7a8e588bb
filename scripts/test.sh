#!/usr/bin/env bash
# Builds zbatch and runs every test: the formatting check, the default preset (RelWithDebInfo,
# benchmarks built), the regression gate on the built-in scenarios (sim mode against
# reports/baseline) and the ASan+UBSan preset. What CI runs (.ci/run). Needs Debian 12;
# installs missing packages when run as root.
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
echo "== default preset: configure, build, test"
cmake --workflow --preset default
echo "== regression gate: built-in scenarios in sim mode against reports/baseline"
bash scripts/check-baseline.sh build/default/cli/zbatch build/default/scenario-results
echo "== asan preset (ASan+UBSan): configure, build, test"
cmake --workflow --preset asan
echo "== all tests passed in $((SECONDS - start)) s"
