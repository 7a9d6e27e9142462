#!/usr/bin/env bash
# Runs inside a chroot of a trixie fleet image after image-setup.sh: replaces trixie's Docker
# 26.1 and containerd 1.7 by Debian forky's Docker 28.5 and containerd 2.1, and nothing else
# (trixie's systemd stays: forky's systemd cannot boot on a cgroup v1 machine).
# Argument: the Debian mirror.
set -euo pipefail
mirror=${1:-http://deb.debian.org/debian}
export DEBIAN_FRONTEND=noninteractive
echo "deb $mirror forky main" > /etc/apt/sources.list.d/forky.list
# forky's packages only when asked for by name (pkg/forky); never -t forky, which would
# upgrade systemd too.
printf 'Package: *\nPin: release n=forky\nPin-Priority: 100\n' > /etc/apt/preferences.d/forky
# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
# The mirror's forky Release file can be past its Valid-Until date.
apt-get -o Acquire::Check-Valid-Until=false update -qq
apt-get install -y -qq --no-install-recommends \
    docker.io/forky docker-cli/forky containerd/forky runc/forky >/dev/null
systemctl enable docker.service docker.socket containerd.service >/dev/null 2>&1 || true
dpkg-query -W -f '${Package} ${Version}\n' docker.io containerd runc
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
