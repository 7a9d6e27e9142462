#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine (as root) to run the demo and the tests:
# system packages, a running Docker engine, the .venv with pinned tools, the
# collection on Ansible's path and the fleet's host image.  Each step is skipped
# when it is already done.  Run as: bash scripts/bootstrap.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# The venv this script builds must not be the Python that builds it.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v "^$here/.venv/bin\$" | paste -sd: -)
export PATH
say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: the test fleet mounts loop devices, runs debootstrap and a Docker engine. \
Without root, install docker.io rsync debootstrap e2fsprogs openssh-client python3-venv yourself and run as root."

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v rsync >/dev/null || need+=(rsync)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v ssh >/dev/null || need+=(openssh-client)
command -v setfattr >/dev/null || need+=(attr)
command -v setfacl >/dev/null || need+=(acl)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v zstd >/dev/null || need+=(zstd)
command -v git >/dev/null || need+=(git)
# ansible-test sanity runs shellcheck on the collection's shell scripts, and skips it when it is missing.
command -v shellcheck >/dev/null || need+=(shellcheck)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "apt-get is missing; install these yourself: ${need[*]}"
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    say "starting dockerd"
    setsid dockerd >/var/log/dockyard-outer-dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || die "dockerd did not start; see /var/log/dockyard-outer-dockerd.log"
fi

py=${PYTHON:-python3}
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
    die "the controller needs Python 3.11 or newer for ansible-core 2.19 (found $("$py" --version))"
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "creating .venv with the pinned tools (requirements-dev.txt)"
    rm -rf .venv
    "$py" -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
    echo "$want" > "$stamp"
fi

mkdir -p collections/ansible_collections/dockyard
ln -sfn ../../.. collections/ansible_collections/dockyard/migrate

.venv/bin/python tests/fleet/fleet.py build --suite "${FLEET_SUITE:-bookworm}" >/dev/null
say "ready"
