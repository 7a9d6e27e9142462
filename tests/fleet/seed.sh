#!/usr/bin/env bash
# Fills a fleet host's Docker with realistic data.  Runs on the host itself
# (fleet.py seed pipes it through `docker exec`).  Idempotent: a seeded host is
# left as it is.
#
# What it makes:
#   images      seed/base:1 (imported), seed/app:1 and seed/app:2 (layers on
#               seed/base), seed/tool:1 (another branch on seed/base)
#   containers  web (running, restart=always, with the volume webdata),
#               worker (running, restart=unless-stopped), batch (exited),
#               spare (created, never started)
#   volumes     webdata (files with hard links, xattrs, ACLs, holes), cache
set -euo pipefail
profile=${1:-default}

if docker image inspect seed/base:1 >/dev/null 2>&1 && docker container inspect spare >/dev/null 2>&1; then
    echo "seed: already seeded"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The images' command: a loop that ends at once on SIGTERM, so Docker stops without waiting 10 s.
LOOP_CMD='CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM; while true; do sleep 1; done"]'

# A tiny base image from the host's own static busybox.
mkdir -p "$work/root/bin" "$work/root/etc" "$work/root/tmp" "$work/root/data"
cp /bin/busybox "$work/root/bin/busybox"
for applet in sh ls cat echo sleep mkdir cp ln touch dd head sync wc seq true; do
    ln -s busybox "$work/root/bin/$applet"
done
echo "seed base" > "$work/root/etc/seed-release"
tar --numeric-owner -C "$work/root" -c . | docker import \
    -c "$LOOP_CMD" - seed/base:1 >/dev/null

# Layers on top of the base (docker commit: no builder or network needed).
layer() { # layer FROM TO COMMAND
    local cid
    cid=$(docker create --network none "$1" /bin/sh -c "$3")
    docker start -a "$cid" >/dev/null
    docker commit -c "$LOOP_CMD" "$cid" "$2" >/dev/null
    docker rm "$cid" >/dev/null
}
layer seed/base:1 seed/app:1 'mkdir -p /app && dd if=/dev/urandom of=/app/blob bs=1024 count=2048 2>/dev/null && echo v1 > /app/version'
layer seed/app:1 seed/app:2 'echo v2 > /app/version && dd if=/dev/urandom of=/app/extra bs=1024 count=1024 2>/dev/null && ln /app/extra /app/extra.link'
layer seed/base:1 seed/tool:1 'mkdir -p /tool && dd if=/dev/urandom of=/tool/bin bs=1024 count=512 2>/dev/null'

# Volumes with hard links, extended attributes, ACLs and holes.
docker volume create webdata >/dev/null
docker volume create cache >/dev/null
vol=$(docker volume inspect -f '{{.Mountpoint}}' webdata)
mkdir -p "$vol/site" "$vol/sparse"
head -c 65536 /dev/urandom > "$vol/site/index.bin"
ln "$vol/site/index.bin" "$vol/site/index.hardlink"
echo "hello" > "$vol/site/page.txt"
setfattr -n user.seed -v fleet "$vol/site/page.txt"
setfacl -m u:1234:r "$vol/site/page.txt"
truncate -s 8M "$vol/sparse/holes.img"
printf 'data in the middle' | dd of="$vol/sparse/holes.img" bs=1 seek=4194304 conv=notrunc 2>/dev/null
chown 1234:1234 "$vol/site/index.bin"
ln -s page.txt "$vol/site/link"
mkfifo "$vol/site/fifo"

docker run -d --name web --network none --restart always -v webdata:/data seed/app:2 >/dev/null
docker run -d --name worker --network none --restart unless-stopped -v cache:/cache seed/tool:1 \
    /bin/sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' >/dev/null
docker run --name batch --network none seed/app:1 /bin/sh -c 'echo done > /tmp/out' >/dev/null
docker create --name spare --network none seed/base:1 >/dev/null
# A change in a running container's writable layer.
docker exec web /bin/sh -c 'echo runtime > /tmp/state'

if [ "$profile" = "large" ]; then
    docker run --name bulk --network none -v cache:/cache seed/base:1 /bin/sh -c \
        'for i in $(seq 1 2000); do echo $i > /cache/f$i; done' >/dev/null
fi
echo "seed: done"
