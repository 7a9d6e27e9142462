#!/usr/bin/env bash
# Runs inside a chroot of the debootstrapped tree: turns it into a fleet host
# image that boots systemd and runs sshd and its own dockerd.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    systemd systemd-sysv openssh-server dbus >/dev/null
systemctl enable ssh.service docker.service docker.socket containerd.service >/dev/null 2>&1 || true
# Units that make no sense inside a container host of the fleet.
for unit in getty@tty1.service console-getty.service systemd-udevd.service \
            systemd-udev-trigger.service systemd-networkd-wait-online.service \
            apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service \
            systemd-timesyncd.service; do
    ln -sf /dev/null "/etc/systemd/system/$unit"
done
mkdir -p /root/.ssh /etc/docker /mnt/data
chmod 700 /root/.ssh
echo 'root:*' | chpasswd -e
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
