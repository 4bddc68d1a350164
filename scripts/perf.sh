#!/usr/bin/env bash
# Reproduce docs/performance.md: set up everything the benchmark needs, then run the
# whole suite (about 25 minutes on 2 cores with the defaults).
#
#   bash scripts/perf.sh                 # the full suite, rewrites docs/performance.md
#   bash scripts/perf.sh --runs 1 ...    # extra arguments go to `orbitmq bench suite`
#
# Set-up steps, each skipped when already done:
#   .venv with OrbitMQ and the `bench` extra (nats-py, redis, hiredis)
#   nats-server and redis-server from Debian (apt-get, as root); their packaged services
#     are not used: the suite starts its own servers on loopback ports
#   the official C++ client's venv (.venv-cpp, scripts/cpp_client_env.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "perf: $*" >&2; }

bash scripts/setup.sh --bench

missing=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "need root and apt-get to install ${missing[*]}; the suite will skip those rows"
  else
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

cpp_python="$(bash scripts/cpp_client_env.sh)"
export ORBITMQ_BENCH_CPP_PYTHON="$cpp_python"

log "running the suite (progress on stderr)"
exec .venv/bin/python -m orbitmq bench suite --out docs/performance.md "$@"
