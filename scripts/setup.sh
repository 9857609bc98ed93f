#!/usr/bin/env bash
# Installs every Debian package pythond needs to build, test and run. Idempotent: when every
# package is already installed it does nothing (no apt-get update, no network).
set -euo pipefail

# What building pythond needs (`make build`, `make install`, `make package`)...
BUILD_PACKAGES=(
  cmake g++ make pkg-config
  libboost1.74-dev libtomlplusplus-dev libsimdjson-dev libsqlite3-dev
  zlib1g-dev libzstd-dev libssl-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev  # CMake builds the tests and benchmarks too
  librdkafka-dev  # the kafka output (its built-in mock cluster serves the tests)
  libgit2-dev  # [git_repos]
  libjemalloc-dev  # the agent's allocator (release builds)
  python3  # the worker and the SDK; CMake looks for it
  dpkg-dev  # dpkg-shlibdeps: the .deb's library dependencies (make package)
)
# ... and what its tests and benchmarks need besides (`make test`, `make bench`).
TEST_PACKAGES=(
  python3-venv clang-format curl sqlite3 procps  # python3-venv: the venv tests of `pythond test`
  git  # the tests make repositories and serve them with git
  openssh-server openssh-client  # the git tests serve a repository over ssh:// from their own sshd
  influxdb  # the differential test writes the same lines to a real InfluxDB 1.6.7
  victoria-metrics prometheus  # the outputs' tests ship to them / are scraped by them
  systemd  # systemd-analyze verify checks the unit in the package test
  lintian  # the package test runs it on the .deb
  chromium  # the status page's browser test (tests/e2e/test_web.py, playwright-core drives it)
)
# `setup.sh build`: only what building needs (make install on a host that runs pythond).
PACKAGES=("${BUILD_PACKAGES[@]}")
if [ "${1:-all}" != build ]; then
  PACKAGES+=("${TEST_PACKAGES[@]}")
fi
# npm fetches uPlot for the status page at build time (web/package-lock.json) and the browser
# test's driver. Debian's nodejs + npm, unless a node with npm is already there (NodeSource's
# nodejs package bundles npm and conflicts with Debian's).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
