#!/usr/bin/env bash
# Build (idempotently) the isolated virtualenv holding the official RocketMQ C++
# client used by the compatibility tests: PyPI `rocketmq==0.4.4`, a ctypes wrapper
# around a bundled librocketmq.so (rocketmq-client-cpp ~1.2.3, 4.x remoting protocol).
#
# Usage:  scripts/cpp_client_env.sh            -> prints the venv's python path on stdout
#   ORBITMQ_CPP_VENV    venv location (default .venv-cpp, relative to the repo root)
#   ORBITMQ_CPP_PYTHON  interpreter used to create the venv (default python3)
#
# The client is kept in its own venv on purpose: the 5.x gRPC SDK also installs a
# package called `rocketmq`, and the two must never share site-packages.
# Only the last line of stdout is the python path; all progress goes to stderr.
# Safe to run concurrently (pytest-xdist workers): the work is serialised by flock.
set -euo pipefail

ROCKETMQ_VERSION="0.4.4"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ORBITMQ_CPP_VENV:-.venv-cpp}"
case "$VENV" in
  /*) ;;
  *) VENV="$REPO_ROOT/$VENV" ;;
esac
BASE_PYTHON="${ORBITMQ_CPP_PYTHON:-python3}"
VPY="$VENV/bin/python"

log() { echo "cpp_client_env: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Do not let the caller's Python environment leak into the venv's interpreter.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONUSERBASE PIP_REQUIRE_VIRTUALENV 2>/dev/null || true

arch="$(uname -m)"
[ "$(uname -s)" = "Linux" ] || die "rocketmq==$ROCKETMQ_VERSION ships librocketmq only for Linux x86_64 here (got $(uname -s))"
[ "$arch" = "x86_64" ] || die "rocketmq==$ROCKETMQ_VERSION only has a manylinux1_x86_64 wheel (this machine is $arch); its sdist has no librocketmq"

# Checks the venv: right package version importable, bundled library loads.
venv_ok() {
  [ -x "$VPY" ] || return 1
  "$VPY" -I - "$ROCKETMQ_VERSION" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
assert version("rocketmq") == sys.argv[1]
import rocketmq.client  # loads librocketmq.so through ctypes
EOF
}

apt_updated=0
apt_install() {
  # apt_install PKG... : install Debian packages if we are root and have apt-get.
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Shared libraries librocketmq.so needs (besides its bundled private zlib):
# libstdc++.so.6 (libstdc++6), libgcc_s.so.1 (libgcc-s1), libm/libpthread/librt/libdl/libc
# (libc6). On Debian libstdc++6 is pulled in by apt itself, so it is normally there, but a
# stripped image may lack it: detect with ldd and install the owning package.
ensure_system_libs() {
  local so missing pkgs=() lib
  so="$("$VPY" -I -c 'import importlib.util, os; s = importlib.util.find_spec("rocketmq"); print(os.path.join(os.path.dirname(s.origin), "librocketmq.so"))')"
  [ -f "$so" ] || die "bundled library not found at $so"
  command -v ldd >/dev/null 2>&1 || { log "ldd not available; skipping shared-library check"; return 0; }
  missing="$(ldd "$so" 2>/dev/null | awk '/not found/ {print $1}' || true)"
  [ -z "$missing" ] && return 0
  log "librocketmq.so has unresolved libraries: $(echo $missing)"
  for lib in $missing; do
    case "$lib" in
      libstdc++.so.*) pkgs+=(libstdc++6) ;;
      libgcc_s.so.*) pkgs+=(libgcc-s1) ;;
      libz.so.*) pkgs+=(zlib1g) ;;
      libm.so.*|libc.so.*|libpthread.so.*|librt.so.*|libdl.so.*) pkgs+=(libc6) ;;
      *) die "no known Debian package provides $lib" ;;
    esac
  done
  apt_install "${pkgs[@]}" || die "missing ${missing//$'\n'/ }; install Debian packages: ${pkgs[*]} (need root + apt-get)"
  missing="$(ldd "$so" 2>/dev/null | awk '/not found/ {print $1}' || true)"
  [ -z "$missing" ] || die "still unresolved after apt-get install: $missing"
}

build() {
  if venv_ok; then
    return 0
  fi
  command -v "$BASE_PYTHON" >/dev/null 2>&1 || die "$BASE_PYTHON not found"
  local t0=$SECONDS
  if [ ! -x "$VPY" ] || ! "$VPY" -I -m pip --version >/dev/null 2>&1; then
    log "creating virtualenv $VENV with $BASE_PYTHON"
    rm -rf "$VENV"
    if ! "$BASE_PYTHON" -m venv "$VENV" >&2; then
      # Debian splits ensurepip into python3-venv / python3.X-venv.
      rm -rf "$VENV"
      local pyver
      pyver="$("$BASE_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
      apt_install python3-venv "python${pyver}-venv" || apt_install python3-venv \
        || die "'$BASE_PYTHON -m venv' failed; install the Debian package python3-venv"
      "$BASE_PYTHON" -m venv "$VENV" >&2 || die "'$BASE_PYTHON -m venv $VENV' failed"
    fi
  fi
  log "pip install rocketmq==$ROCKETMQ_VERSION"
  # --only-binary: the sdist has no librocketmq and would install a useless package.
  "$VPY" -I -m pip install --disable-pip-version-check --no-input -q \
    --only-binary rocketmq "rocketmq==$ROCKETMQ_VERSION" >&2 \
    || die "pip install rocketmq==$ROCKETMQ_VERSION failed"
  ensure_system_libs
  if ! venv_ok; then
    "$VPY" -I -c 'import rocketmq.client' >&2 || true
    die "rocketmq.client does not import in $VENV"
  fi
  log "venv ready in $((SECONDS - t0)) s"
}

mkdir -p "$(dirname "$VENV")"
# Lock outside the repo (keyed by the venv path) so it leaves no stray file behind.
LOCK="${TMPDIR:-/tmp}/orbitmq-cpp-venv-$(printf '%s' "$VENV" | cksum | cut -d' ' -f1).lock"
exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
  flock -w 600 9 || die "timed out waiting for lock $LOCK"
fi
build
echo "$VPY"
