#!/usr/bin/env bash
# Installs exactly the Debian 12 packages that building, testing and benchmarking zbatch need.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libcaf-dev libcpp-httplib-dev libbrotli-dev libssl-dev zlib1g-dev libjpeg-dev nlohmann-json3-dev libcli11-dev
  googletest libgtest-dev libbenchmark-dev
  libhiredis-dev redis-server
  clang libclang-rt-14-dev
  clang-format python3 python3-httpx wrk curl time help2man
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
