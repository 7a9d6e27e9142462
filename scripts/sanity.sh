#!/usr/bin/env bash
# ansible-test sanity on a temporary ansible_collections/dockyard/migrate tree.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/ansible_collections/dockyard/migrate
mkdir -p "$dest"
cd "$here"
git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents -a {} "$dest"/ 2>/dev/null || true
cd "$dest"
git init -q && git add -A
run() { PATH="$venv/bin:$PATH" ansible-test sanity --color no --venv --python 3.11 "$@"; }
log=$tmp/sanity.log
if run "$@" 2>&1 | tee "$log"; then exit 0; fi
target=$(sed -n 's/.*manually downloaded and saved to: \(.*get_pip_[0-9_]*\.py\).*/\1/p' "$log" | head -1)
if [ -n "$target" ]; then
    echo "sanity: pip's bootstrap script cannot be downloaded here; using the offline stand-in at $target"
    mkdir -p "$(dirname "$target")"
    cp "$here/tests/sanity/get_pip_offline.py" "$target"
    run "$@"
else
    exit 1
fi
