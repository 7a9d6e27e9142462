# -*- coding: utf-8 -*-
"""transfer_images via=stream sends only the layers a destination lacks, on Docker 20.10, 26.1 and 28.5, with the
classic and the containerd image store on either side.

Bytes are counted outside the collection: by ssh itself (its "Transferred: received N bytes" line,
-v -E LOG on the destination) against the sizes of `docker save` on the source.  An image is the same on both
sides when its configuration's digest is: the containerd store's image ID is its manifest's digest, so the test
reads the manifest from containerd's content store itself."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import jsonschema
import pytest

from conftest import FLEET_KEY, container, host_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRANSFER = os.path.join(ROOT, "playbooks", "transfer_images.yml")
with open(os.path.join(ROOT, "docs", "transfer-report.schema.json")) as _f:
    TRANSFER_SCHEMA = json.load(_f)
KEY = FLEET_KEY
SSH_OPTS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
LOG = "/root/dockyard-ssh.log"
# host: fleet.py options that bring it up
KINDS = {"h1": None, "h2": None, "h3": ["--suite", "trixie", "--containerd-store"], "h7": ["--suite", "trixie"],
         "h12": ["--suite", "docker28"], "h13": ["--suite", "docker28", "--containerd-store"]}
BLOBS = "/var/lib/containerd/io.containerd.content.v1.content/blobs/sha256/"


def bring_up(fleet, *hosts, **kw):
    """Bring the hosts up, seeded (seeding is a no-op on a seeded host; reset=True rebuilds it first), each with
    the key into the others."""
    for host in hosts:
        if KINDS[host]:
            fleet.up_extra("--first", host[1:], "--hosts", "1", *KINDS[host])
        if kw.get("reset"):
            fleet.reset(host, seed=False)
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fleet", "fleet.py"), "seed", host], check=True,
                       timeout=600, stdout=subprocess.DEVNULL)
        subprocess.run(["docker", "cp", KEY, container(host) + ":/root/.ssh/fleet_key"], check=True, timeout=60)
        fleet.sh(host, "chmod", "600", "/root/.ssh/fleet_key")


def image_id(fleet, host, ref):
    return fleet.sh(host, "docker", "image", "inspect", "-f", "{{.Id}}", ref).strip()


def config_digest(fleet, host, ref):
    """The digest of the image's configuration as the host's own store records it."""
    digest = image_id(fleet, host, ref)
    if "io.containerd.snapshotter.v1" not in fleet.sh(host, "docker", "info", "-f", "{{json .DriverStatus}}"):
        return digest  # the classic store's image ID is the config digest
    for _step in range(3):  # an index, then a manifest
        doc = json.loads(fleet.sh(host, "cat", BLOBS + digest.split(":")[1]))
        if "config" in doc:
            return doc["config"]["digest"]
        digest = [m for m in doc["manifests"] if (m.get("platform") or {}).get("os") != "unknown"][0]["digest"]
    raise AssertionError("no config for %s on %s" % (ref, host))


def save_size(fleet, host, ref):
    return int(fleet.sh(host, "sh", "-c", "docker save %s | wc -c" % ref).strip())


def received(fleet, host):
    """What ssh on host says it received, summed over the runs in its log."""
    text = fleet.sh(host, "sh", "-c", "cat %s 2>/dev/null; true" % LOG)
    return sum(int(n) for n in re.findall(r"Transferred: sent \d+, received (\d+) bytes", text))


def port(src):
    return str(host_port(src))


def transfer(fleet, src, dst, images, report=None):
    args = dict({"transfer_source": src, "transfer_to": dst, "transfer_via": "stream", "transfer_images": images,
                 "transfer_ssh_key": "/root/.ssh/fleet_key",
                 "transfer_ssh_args": " ".join(SSH_OPTS + ["-v", "-E", LOG])})
    if report:
        args["transfer_report_file"] = report
    return fleet.playbook(TRANSFER, extra=args)


def row(stdout, host):
    m = re.search(r'"%s\s+h\d+\s+stream\s+(\d+)\s+(\d+)\s+(\S+)\s+(\w+)"' % host, stdout)
    assert m, stdout[-3000:]
    return m.groups()


def fresh_images(fleet, src):
    """layers/app:1 (2 MiB of random data on the source's seed/base) and layers/app:2 (1 MiB more), made anew:
    their own layers are on no other host."""
    script = ("set -e; docker rmi layers/app:1 layers/app:2 >/dev/null 2>&1 || true; docker image prune -f >/dev/null; "
              "mk() { c=$(docker create --network none $1 sh -c \"$3\"); docker start -a $c >/dev/null; "
              "docker commit $c $2 >/dev/null; docker rm $c >/dev/null; }; "
              "mk seed/base:1 layers/app:1 'mkdir -p /app && head -c 2097152 /dev/urandom > /app/blob && "
              "echo v1 > /app/version'; "
              "mk layers/app:1 layers/app:2 'echo v2 > /app/version && head -c 1048576 /dev/urandom > /app/extra'")
    fleet.sh(src, "sh", "-c", script)


def diff_ids(fleet, host, *refs):
    out = fleet.sh(host, "sh", "-c", "docker image inspect -f '{{json .RootFS.Layers}}' %s" % " ".join(refs))
    return set(d for line in out.splitlines() if line.strip() for d in json.loads(line))


def apart(fleet, src, dst):
    """Remove what earlier runs brought to dst; when another host's images left it the source's base, rebuild dst:
    none of the source's layers may be on it."""
    fleet.sh(dst, "sh", "-c", "docker rmi layers/app:1 layers/app:2 >/dev/null 2>&1; docker image prune -f >/dev/null")
    ids = fleet.sh(dst, "docker", "images", "--all", "--quiet", "--no-trunc").split()
    if diff_ids(fleet, src, "layers/app:1") & (diff_ids(fleet, dst, *ids) if ids else set()):
        fleet.reset(dst, seed=False)
        bring_up(fleet, dst)


# Each pair's hosts were seeded apart and the source's images are made anew, so none of their layers are on the
# destination (apart() checks).  Together the pairs load
# partial archives on every engine kind (20.10, 26.1 classic and containerd store, 28.5 both) from sources of each
# layout (20.10's <v1 id>/layer.tar, 26.1's and 28.5's blobs/sha256), across stores both ways.
CONTAINERD_SOURCES = ("h3", "h13")
PAIRS = [("h1", "h2"), ("h7", "h3"), ("h3", "h12"), ("h12", "h13"), ("h13", "h7")]
PAIR_IDS = ["20.10-to-20.10", "26.1-to-26.1-containerd", "26.1-containerd-to-28.5",
            "28.5-to-28.5-containerd", "28.5-containerd-to-26.1"]


@pytest.mark.parametrize("src,dst", PAIRS, ids=PAIR_IDS)
def test_only_the_missing_layers_cross_the_wire(fleet_hosts, src, dst, tmp_path):
    bring_up(fleet_hosts, src, dst)
    fresh_images(fleet_hosts, src)
    apart(fleet_hosts, src, dst)
    fleet_hosts.sh(dst, "rm", "-f", LOG)
    # app:1 first: nothing of it is on the destination, so all of it moves.
    transfer(fleet_hosts, src, dst, ["layers/app:1"])
    first = received(fleet_hosts, dst)
    assert first >= save_size(fleet_hosts, src, "layers/app:1") * 0.95, first
    # app:2 is app:1 plus one layer (1 MiB of random data): only that layer may cross.
    whole = save_size(fleet_hosts, src, "layers/app:2")
    lacking = whole - save_size(fleet_hosts, src, "layers/app:1")
    report = str(tmp_path / "report.json")
    res = transfer(fleet_hosts, src, dst, ["layers/app:2"], report)
    wire = received(fleet_hosts, dst) - first
    assert row(res.stdout, dst)[1] == "1" and row(res.stdout, dst)[3] == "loaded", res.stdout[-3000:]
    with open(report) as f:
        doc = json.load(f)
    jsonschema.validate(doc, TRANSFER_SCHEMA)
    result = doc["hosts"][0]
    print(src, dst, "whole", whole, "lacking", lacking, "wire", wire, result)
    assert (result["layers"], str(result["layers_dropped"])) == ("missing", "2"), result
    # A classic source writes the archive from its store's files; a containerd-store source runs docker save.
    if src in CONTAINERD_SOURCES:
        assert result["source_archive"] == "save" and "containerd's image store" in result["source_note"], result
    else:
        assert (result["source_archive"], result["source_note"]) == ("store", None), result
    assert wire <= lacking * 1.1 + 65536, (wire, lacking, whole)
    assert wire < whole * 0.5, (wire, whole)
    assert config_digest(fleet_hosts, dst, "layers/app:2") == config_digest(fleet_hosts, src, "layers/app:2")
    layers = "{{json .RootFS.Layers}}"
    assert fleet_hosts.sh(dst, "docker", "image", "inspect", "-f", layers, "layers/app:2") == \
        fleet_hosts.sh(src, "docker", "image", "inspect", "-f", layers, "layers/app:2")
    out = fleet_hosts.sh(dst, "docker", "run", "--rm", "--network", "none", "layers/app:2", "sh", "-c",
                         "cat /app/version; wc -c < /app/blob; wc -c < /app/extra")
    assert out.split() == ["v2", "2097152", "1048576"]
    # The rerun moves nothing: ssh does not even run.
    res = transfer(fleet_hosts, src, dst, ["layers/app:1", "layers/app:2"])
    assert row(res.stdout, dst)[1:] == ("0", "0B", "unchanged")
    assert received(fleet_hosts, dst) == first + wire
    assert re.search(r"^%s\s+: ok=\d+\s+changed=0\s" % dst, res.stdout, re.M), res.stdout[-2000:]


def ssh_to(src):
    return ["ssh", "-p", port(src), "-i", "/root/.ssh/fleet_key"] + SSH_OPTS + ["root@127.0.0.1"]


CUT = "/root/dockyard-cut"


def cut_stream(fleet, dst, src, size=200000):
    """src_ssh for DST that passes on only the first SIZE bytes of SRC's stream.  What passed is kept on DST in
    CUT (sent on once whole) and its length in CUT.count, which passed_bytes reads."""
    fleet.sh(dst, "rm", "-f", CUT, CUT + ".count")
    return ["sh", "-c", '"$@" | head -c %d > %s; wc -c < %s > %s.count; cat %s' % (size, CUT, CUT, CUT, CUT),
            "cut"] + ssh_to(src)


def passed_bytes(fleet, dst):
    """How many bytes the cut stream passed on (an error if it never ran)."""
    return int(fleet.sh(dst, "sh", "-c", "cat %s.count && rm -f %s %s.count" % (CUT, CUT, CUT)))


def wanted(fleet, src, ref, layers=True):
    info = fleet.module(src, "dockyard.migrate.image_info", {"images": [ref]})
    images = info["images"]
    if not layers:
        images = [dict((k, v) for k, v in i.items() if k != "layers") for i in images]
    return images


def test_whole_images_when_the_layers_are_not_known_and_a_cut_stream_loads_nothing(fleet_hosts):
    """h2 is given h1's base layer and nothing of layers/app:1's own (made anew on h1): the plan drops exactly that
    one layer.  Independent of the other tests and of their order."""
    bring_up(fleet_hosts, "h1", "h2")
    fresh_images(fleet_hosts, "h1")
    apart(fleet_hosts, "h1", "h2")
    fleet_hosts.sh("h1", "docker", "tag", "seed/base:1", "layers/base:1")
    fleet_hosts.sh("h2", "sh", "-c", "docker rmi -f layers/base:1 >/dev/null 2>&1; true")
    base = fleet_hosts.module("h2", "dockyard.migrate.image_load", {
        "src_ssh": ssh_to("h1"), "images": wanted(fleet_hosts, "h1", "layers/base:1")})
    assert base["changed"] and image_id(fleet_hosts, "h2", "layers/base:1") == \
        image_id(fleet_hosts, "h1", "layers/base:1"), base
    try:
        listing = ["docker", "images", "--all", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]
        before = sorted(fleet_hosts.sh("h2", *listing).splitlines())
        images = wanted(fleet_hosts, "h1", "layers/app:1")
        assert len(images[0]["layers"]) == 2, images
        # Cut after 200 kB: inside the app layer (2 MiB of random data); Docker gets a broken archive, loads nothing.
        cut = cut_stream(fleet_hosts, "h2", "h1")
        res = fleet_hosts.module("h2", "dockyard.migrate.image_load", {"src_ssh": cut, "images": images},
                                 expect="failed")
        assert "Docker refused the stream" in res["msg"], res
        # Cut inside the stream: the source wrote at least 200 kB, not nothing.
        assert passed_bytes(fleet_hosts, "h2") == 200000
        assert sorted(fleet_hosts.sh("h2", *listing).splitlines()) == before
        # Asked for docker save, the classic source runs it (20.10's layout), and drops the one layer h2 has.
        res = fleet_hosts.module("h2", "dockyard.migrate.image_load", {
            "src_ssh": ssh_to("h1"), "images": images, "source_archive": "docker_save"})
        assert res.get("changed") and res["layers"]["mode"] == "missing", res
        assert (res["layers"]["source"], res["layers"]["source_reason"]) == ("save", "docker save was asked for"), res
        assert res["layers"]["layout"] == "legacy", res
        assert res["layers"]["planned"] == 1 and res["layers"]["dropped_layers"] == 1, res["layers"]
        assert image_id(fleet_hosts, "h2", "layers/app:1") == images[0]["id"]
        fleet_hosts.sh("h2", "docker", "rmi", "-f", "layers/app:1")
        # Without the layers listed, the whole image is sent, and the result says why.
        res = fleet_hosts.module("h2", "dockyard.migrate.image_load", {
            "src_ssh": ssh_to("h1"), "images": wanted(fleet_hosts, "h1", "layers/app:1", layers=False)})
        assert res.get("changed") and res["layers"]["mode"] == "whole", res
        assert "do not list their layers" in res["layers"]["reason"]
        assert res["bytes"] == save_size(fleet_hosts, "h1", "layers/app:1")
        assert image_id(fleet_hosts, "h2", "layers/app:1") == images[0]["id"]
    finally:
        fleet_hosts.sh("h2", "sh", "-c", "docker rmi -f layers/app:1 layers/base:1 >/dev/null 2>&1; true")
        fleet_hosts.sh("h1", "sh", "-c", "docker rmi layers/base:1 >/dev/null 2>&1; true")


def test_a_cut_stream_loads_nothing_on_the_containerd_store(fleet_hosts):
    """A partial stream cut part-way into a 26.1 containerd-store host: refused, and no image appears."""
    bring_up(fleet_hosts, "h7", "h3")
    fleet_hosts.sh("h7", "docker", "tag", "seed/tool:1", "layers/tool:1")
    fleet_hosts.sh("h3", "sh", "-c", "docker rmi -f layers/tool:1 >/dev/null 2>&1; true")
    # None of the image's layers on h3 (an earlier transfer may have left them under another tag), so the whole
    # stream is planned and the cut falls inside it.
    ids = fleet_hosts.sh("h3", "docker", "images", "--all", "--quiet", "--no-trunc").split()
    if diff_ids(fleet_hosts, "h7", "layers/tool:1") & (diff_ids(fleet_hosts, "h3", *ids) if ids else set()):
        fleet_hosts.reset("h3", seed=False)
        bring_up(fleet_hosts, "h3")
    listing = ["docker", "images", "--all", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]
    before = sorted(fleet_hosts.sh("h3", *listing).splitlines())
    cut = cut_stream(fleet_hosts, "h3", "h7")
    res = fleet_hosts.module("h3", "dockyard.migrate.image_load",
                             {"src_ssh": cut, "images": wanted(fleet_hosts, "h7", "layers/tool:1")}, expect="failed")
    assert res.get("failed") and "Docker refused the stream" in res["msg"], res
    assert passed_bytes(fleet_hosts, "h3") == 200000  # cut inside the stream, not empty
    assert sorted(fleet_hosts.sh("h3", *listing).splitlines()) == before


def test_an_archive_through_the_controller_crosses_stores_and_reruns_as_a_no_op(fleet_hosts):
    """via=controller from a 26.1 classic host to a 26.1 containerd-store host: the check after the load and the
    rerun know the image by its configuration's digest, not by the ID each store gives it."""
    bring_up(fleet_hosts, "h7", "h3")
    fleet_hosts.sh("h7", "docker", "tag", "seed/tool:1", "layers/tool:1")
    fleet_hosts.sh("h3", "sh", "-c", "docker rmi -f layers/tool:1 >/dev/null 2>&1; true")
    extra = {"transfer_source": "h7", "transfer_to": "h3", "transfer_images": ["layers/tool:1"]}
    res = fleet_hosts.playbook(TRANSFER, extra=extra)
    assert row_via(res.stdout, "h3")[1::2] == ("1", "loaded"), res.stdout[-3000:]
    assert image_id(fleet_hosts, "h3", "layers/tool:1") != image_id(fleet_hosts, "h7", "layers/tool:1")
    assert config_digest(fleet_hosts, "h3", "layers/tool:1") == image_id(fleet_hosts, "h7", "layers/tool:1")
    res = fleet_hosts.playbook(TRANSFER, extra=extra)
    assert row_via(res.stdout, "h3")[1:] == ("0", "0B", "unchanged")
    assert re.search(r"^h3\s+: ok=\d+\s+changed=0\s", res.stdout, re.M), res.stdout[-2000:]


def row_via(stdout, host):
    m = re.search(r'"%s\s+h\d+\s+\w+\s+(\d+)\s+(\d+)\s+(\S+)\s+(\w+)"' % host, stdout)
    assert m, stdout[-3000:]
    return m.groups()


@pytest.mark.parametrize("src,dst", [("h1", "h2"), ("h7", "h3")], ids=["20.10-to-20.10", "26.1-to-26.1-containerd"])
def test_a_layer_changed_on_the_source_loads_nothing(fleet_hosts, src, dst):
    """The source writes the archive from its store's files as they are.  A byte of a layer's file changed in place
    (same size) on the source gives a layer that does not match its diff ID: the destination's engine refuses the
    archive and loads no image.  docker save on the source refuses that layer too."""
    bring_up(fleet_hosts, src, dst)
    fresh_images(fleet_hosts, src)
    apart(fleet_hosts, src, dst)
    images = wanted(fleet_hosts, src, "layers/app:1")
    top = images[0]["layers"][-1]
    upper = fleet_hosts.sh(src, "docker", "image", "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}",
                           "layers/app:1").strip()
    flip = ("import sys; f = open(sys.argv[1], 'r+b'); b = f.read(1); f.seek(0); f.write(bytes([b[0] ^ 0xff])); "
            "print(b[0], b[0] ^ 0xff)")
    old, new = fleet_hosts.sh(src, "python3", "-c", flip, upper + "/app/blob").split()
    assert old != new
    listing = ["docker", "images", "--all", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]
    before = sorted(fleet_hosts.sh(dst, *listing).splitlines())
    try:
        res = fleet_hosts.module(dst, "dockyard.migrate.image_load", {"src_ssh": ssh_to(src), "images": images},
                                 expect="failed")
        # The source wrote its archive (docker save would have failed there: "src_command failed"); the
        # destination's engine refused the damaged layer.
        assert res.get("failed") and "Docker refused the stream" in res["msg"], res
        assert "src_command failed" not in res["msg"], res
        assert top[7:19] in res["msg"] or top in res["msg"], res["msg"]
        assert sorted(fleet_hosts.sh(dst, *listing).splitlines()) == before
        save = fleet_hosts.sh(src, "sh", "-c", "docker save layers/app:1 >/dev/null 2>&1; echo $?")
        assert save.strip() != "0"
    finally:
        fleet_hosts.sh(src, "sh", "-c", "docker rmi layers/app:1 layers/app:2 >/dev/null 2>&1; true")
