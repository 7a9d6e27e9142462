#!/usr/bin/env bash
# Builds the execution environment of awx/execution-environment.yml with ansible-builder on the local Docker
# engine and prints its tag (dockyard-migrate-ee:HASH, also tagged :latest).
#
# The image is keyed by a hash of its inputs (the definition, this script, the collection's plugins, roles,
# playbooks and metadata, the ansible-builder version): an unchanged input set reuses the image already built.
# The base image named in the definition (Debian bookworm slim) is built here from a debootstrap rootfs and
# docker import, so no image registry is needed. When this machine reaches the package index through a CA
# bundle of its own (SSL_CERT_FILE or PIP_CERT), the build gets a copy of it, used by pip during the build only.
#
#   bash awx/build-ee.sh            build when needed, print the tag
#   DOCKYARD_EE_FORCE=1 ...         build again even when the image exists (no Docker layer cache)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
state=${DOCKYARD_EE_DIR:-/var/lib/dockyard-ee}
mirror=${DOCKYARD_EE_MIRROR:-http://deb.debian.org/debian}
py=${PYTHON:-$here/.venv/bin/python}
bin=$(dirname "$py")
say() { printf 'ee: %s\n' "$*" >&2; }
die() { printf 'ee: %s\n' "$*" >&2; exit 1; }

mkdir -p "$state"
exec 9>"$state/.lock"
flock 9

# The base image: what debian:bookworm-slim is made from (a minbase debootstrap), built locally.
base_recipe="debootstrap --variant=minbase bookworm $mirror"
base="dockyard-ee-base:bookworm-$(printf '%s' "$base_recipe" | sha256sum | cut -c1-12)"
if ! docker image inspect "$base" >/dev/null 2>&1; then
    say "building the base image $base (debootstrap)"
    rootfs="$state/rootfs"
    rm -rf "$rootfs"
    timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$state/debootstrap.log" 2>&1 || \
        die "debootstrap failed; see $state/debootstrap.log"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -c . | timeout 600 docker import -c 'CMD ["bash"]' - "$base" >/dev/null
    rm -rf "$rootfs"
fi

# The inputs of the image.
mapfile -t inputs < <(git ls-files -co --exclude-standard -- plugins roles playbooks meta galaxy.yml \
    awx/execution-environment.yml awx/build-ee.sh | sort)
hash=$( { printf '%s\n' "$base" "$("$bin/ansible-builder" --version)"; \
          for f in "${inputs[@]}"; do [ -f "$f" ] && sha256sum "$f"; done; } | sha256sum | cut -c1-12)
image="dockyard-migrate-ee:$hash"
if [ -z "${DOCKYARD_EE_FORCE:-}" ] && docker image inspect "$image" >/dev/null 2>&1; then
    say "$image is up to date"
    echo "$image"
    exit 0
fi

work=$(mktemp -d "$state/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "building $image in $work"
mkdir -p "$work/src" "$work/ee"
git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
    if [ -f "$f" ]; then mkdir -p "$work/src/$(dirname "$f")"; cp -p "$f" "$work/src/$f"; fi
done
(cd "$work/src" && "$bin/ansible-galaxy" collection build --output-path "$work/ee" --force >/dev/null)
mv "$work"/ee/dockyard-migrate-*.tar.gz "$work/ee/dockyard-migrate.tar.gz"  # the definition names no version
cp awx/execution-environment.yml "$work/ee/"

build_args=(--build-arg "EE_BASE_IMAGE=$base")
ca=${SSL_CERT_FILE:-${PIP_CERT:-}}
if [ -n "$ca" ] && [ -f "$ca" ]; then
    # This machine's package index is reached through a CA of its own: pip in every build stage trusts a copy
    # of it through /etc/pip.conf; both are removed at the end of the final stage.
    cp "$ca" "$work/ee/build-ca.crt"
    "$py" - "$work/ee/execution-environment.yml" <<'EOF'
import sys
import yaml
path = sys.argv[1]
with open(path) as f:
    ee = yaml.safe_load(f)
ee.setdefault("additional_build_files", []).append({"src": "build-ca.crt", "dest": "configs"})
steps = ee.setdefault("additional_build_steps", {})
steps["prepend_base"] = [
    "COPY _build/configs/build-ca.crt /opt/build-ca.crt",
    "RUN printf '[global]\\ncert = /opt/build-ca.crt\\n' > /etc/pip.conf",
] + list(steps.get("prepend_base") or [])
steps["append_final"] = list(steps.get("append_final") or []) + ["RUN rm -f /etc/pip.conf /opt/build-ca.crt"]
with open(path, "w") as f:
    yaml.safe_dump(ee, f, sort_keys=False)
EOF
fi
no_cache=()
[ -n "${DOCKYARD_EE_FORCE:-}" ] && no_cache=(--no-cache)
start=$(date +%s)
if ! timeout 1800 "$bin/ansible-builder" build -f "$work/ee/execution-environment.yml" --context "$work/ee/context" \
        --container-runtime docker -t "$image" "${build_args[@]}" "${no_cache[@]}" \
        --extra-build-cli-args "--network host" -v 3 >"$state/build.log" 2>&1; then
    tail -n 40 "$state/build.log" >&2
    die "ansible-builder build failed; see $state/build.log"
fi
say "built $image in $(( $(date +%s) - start )) s"
docker tag "$image" dockyard-migrate-ee:latest
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' dockyard-migrate-ee); do
    case "$old" in "$image"|dockyard-migrate-ee:latest) ;; *) docker rmi "$old" >/dev/null 2>&1 || true ;; esac
done
echo "$image"
