#!/usr/bin/env bash
# Build (or reuse) the reldrop3d virtual environment and link it as .venv.
#
# The environment lives outside the clone, in $RELDROP3D_CACHE (default
# ~/.cache/reldrop3d), under a name keyed on requirements.txt and this script,
# so a warm machine reuses it and never rebuilds torch-scatter.
# Prints nothing on stdout but the path of the environment's python.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${RELDROP3D_CACHE:-$HOME/.cache/reldrop3d}
python=${PYTHON:-python3}
scatter="torch-scatter==2.1.2"
key=$(cat "$root/requirements.txt" "$root/scripts/env.sh" | sha256sum | cut -c1-16)
venv="$cache/venv-$key"
log() { echo "[env] $*" >&2; }

# open3d needs the system library libusb-1.0.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing libusb-1.0-0 (needed by open3d)"
    (apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libusb-1.0-0 >/dev/null; }) \
      || log "WARNING: apt-get install libusb-1.0-0 failed"
  else
    log "WARNING: open3d needs libusb-1.0; install it with: sudo apt-get install -y libusb-1.0-0"
  fi
fi

if [[ ! -f "$venv/.complete" ]]; then
  log "building $venv (first time on this machine: about 5 minutes)"
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
  "${pip[@]}" --upgrade pip >&2
  # torch (and the build tools) first: torch-scatter compiles against it, without build
  # isolation, in the background while the other packages install.
  "${pip[@]}" $(grep -E '^(torch|torchvision|setuptools|wheel)([=<>]|$)' "$root/requirements.txt") >&2
  wheels=$(mktemp -d)
  log "compiling $scatter in the background (a few minutes on 2 cores)"
  FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} "$venv/bin/python" -m pip wheel -q --no-deps \
    --disable-pip-version-check --no-build-isolation -w "$wheels" "$scatter" >&2 &
  build=$!
  "${pip[@]}" -r "$root/requirements.txt" >&2
  wait "$build" || { log "ERROR: building $scatter failed"; exit 1; }
  "${pip[@]}" --no-deps "$wheels"/torch_scatter-*.whl >&2
  rm -rf "$wheels"
  touch "$venv/.complete"
fi

# The project itself, editable; cheap, so done on every call (a clone may move).
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
  --no-build-isolation -e "$root" >&2
ln -sfn "$venv" "$root/.venv"
echo "$venv/bin/python"
