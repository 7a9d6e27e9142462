# -*- coding: utf-8 -*-
"""_container_spec: create bodies and differences, read from real inspect documents (fixtures/container_spec/, made
by make_fixtures.sh on Docker 20.10, API 1.41), and proved on the local engine when one answers: each copy is
created (never started) from the body, inspected, and compared with its original."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import fcntl
import json
import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _container_spec as spec
from ansible_collections.dockyard.migrate.plugins.module_utils import _docker_api as api

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "container_spec")
NAMES = ("minimal", "process", "storage", "network", "limits", "none", "ee", "ee-noentry", "volsrc", "links",
         "netshare")
STANDALONE = ("minimal", "process", "storage", "network", "limits", "none", "ee", "ee-noentry", "volsrc")
TIMEOUT = 30


def load(name):
    with open(os.path.join(HERE, name + ".json")) as f:
        return json.load(f)


def image_config():
    return load("ee-image")["Config"]


def body_of(name, **kwargs):
    inspect = load(name)
    return spec.create_body(inspect, inspect["Config"]["Image"], **kwargs)[1]


def mount(inspect, destination):
    return [m for m in inspect["Mounts"] if m["Destination"] == destination][0]


# ---------------------------------------------------------------- create_body on the fixtures

@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_gives_a_body_with_its_name_the_image_asked_and_all_of_hostconfig(name):
    inspect = load(name)
    got_name, body = spec.create_body(inspect, "sha256:" + "ab" * 32)
    assert got_name == "dockyard-spec-" + name
    assert body["Image"] == "sha256:" + "ab" * 32
    assert set(body["HostConfig"]) - {"Mounts"} == set(inspect["HostConfig"]) - {"Mounts"}
    assert not set(body) & set(spec.IGNORED) - {"Image"}
    json.dumps(body)  # what is POSTed


def test_the_process_is_carried():
    body = body_of("process")
    assert body["Entrypoint"] == ["/bin/sh"] and body["Cmd"] == ["-c", "sleep 1000"]
    assert body["Env"] == ["A=1", "B=two words"]
    assert body["Labels"] == {"empty": "", "org.example.role": "spec"}
    assert (body["User"], body["WorkingDir"], body["Hostname"], body["Domainname"]) == \
        ("1000:1000", "/srv", "spec-host", "example.test")
    assert body["Tty"] and body["OpenStdin"] and body["StdinOnce"] and body["AttachStdin"]
    assert (body["StopSignal"], body["StopTimeout"]) == ("SIGINT", 20)
    assert body["Healthcheck"] == {"Interval": 30000000000, "Retries": 3, "StartPeriod": 5000000000,
                                   "Test": ["CMD-SHELL", "test -e /tmp"], "Timeout": 3000000000}
    assert body["HostConfig"]["Init"] is True


def test_a_defaulted_hostname_is_kept():
    inspect = load("minimal")
    assert spec.create_body(inspect, "x")[1]["Hostname"] == inspect["Id"][:12]


def test_storage_keeps_named_volumes_binds_tmpfs_and_pins_anonymous_volumes_to_the_same_name():
    inspect = load("storage")
    host = body_of("storage")["HostConfig"]
    assert host["Binds"] == ["dockyard-spec-data:/data", "/etc:/host-etc:ro"]
    assert host["Tmpfs"] == {"/run": "rw,size=65536k"} and host["ReadonlyRootfs"] is True
    by_target = dict((m["Target"], m) for m in host["Mounts"])
    assert by_target["/logs"] == {"Source": "dockyard-spec-logs", "Target": "/logs", "Type": "volume",
                                  "VolumeOptions": {"DriverConfig": {}, "NoCopy": True}}
    assert by_target["/host-tmp"]["BindOptions"] == {"Propagation": "rslave"}
    assert by_target["/scratch"]["TmpfsOptions"] == {"SizeBytes": 1048576}
    # --mount type=volume without a source, and -v /cache: the volumes they have now, by name
    assert by_target["/anon-mount"]["Source"] == mount(inspect, "/anon-mount")["Name"]
    assert by_target["/cache"] == {"Type": "volume", "Source": mount(inspect, "/cache")["Name"], "Target": "/cache",
                                   "ReadOnly": False}
    assert len(mount(inspect, "/cache")["Name"]) == 64
    assert sorted(by_target) == ["/anon-mount", "/cache", "/host-tmp", "/logs", "/scratch"]


def test_a_read_only_anonymous_volume_stays_read_only_and_a_foreign_driver_is_named():
    inspect = load("volsrc")
    held = mount(inspect, "/anon-src")
    held.update(RW=False, Driver="nfs-plugin")
    entry = spec.create_body(inspect, "x")[1]["HostConfig"]["Mounts"][0]
    assert entry == {"Type": "volume", "Source": held["Name"], "Target": "/anon-src", "ReadOnly": True,
                     "VolumeOptions": {"DriverConfig": {"Name": "nfs-plugin"}}}


def test_ports_restart_dns_hosts_and_mac_are_carried():
    body = body_of("network")
    host = body["HostConfig"]
    assert host["PortBindings"] == {"443/tcp": [{"HostIp": "", "HostPort": "18443"}],
                                    "53/udp": [{"HostIp": "", "HostPort": ""}],
                                    "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
    assert sorted(body["ExposedPorts"]) == ["443/tcp", "53/udp", "80/tcp", "9000/tcp"]
    assert host["RestartPolicy"] == {"MaximumRetryCount": 3, "Name": "on-failure"}
    assert (host["Dns"], host["DnsSearch"], host["DnsOptions"]) == (["127.0.0.53"], ["example.test"], ["ndots:2"])
    assert host["ExtraHosts"] == ["db.example.test:127.0.0.1"]
    assert body["MacAddress"] == "02:42:ac:11:00:99"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"bridge": {}}}


def test_resources_and_privileges_are_carried():
    host = body_of("limits")["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"], host["MemorySwap"]) == (268435456, 134217728, 536870912)
    assert (host["NanoCpus"], host["CpuShares"], host["CpusetCpus"], host["PidsLimit"]) == (500000000, 512, "0", 100)
    assert host["Ulimits"] == [{"Hard": 2048, "Name": "nofile", "Soft": 1024}]
    assert (host["CapAdd"], host["CapDrop"], host["SecurityOpt"]) == (["NET_ADMIN"], ["MKNOD"], ["no-new-privileges"])
    assert host["Devices"] == [
        {"CgroupPermissions": "rw", "PathInContainer": "/dev/spec-null", "PathOnHost": "/dev/null"}]
    assert (host["Sysctls"], host["ShmSize"], host["OomScoreAdj"], host["GroupAdd"]) == \
        ({"net.ipv4.ip_forward": "1"}, 134217728, 100, ["1234"])
    assert host["LogConfig"] == {"Config": {"max-file": "3", "max-size": "10m"}, "Type": "json-file"}
    assert host["RestartPolicy"]["Name"] == "unless-stopped" and host["IpcMode"] == "private"


def test_network_none_has_no_endpoints():
    body = body_of("none")
    assert body["HostConfig"]["NetworkMode"] == "none" and "NetworkingConfig" not in body


def test_with_the_image_config_what_the_image_gives_is_left_to_it():
    body = body_of("ee", image_config=image_config())
    assert body["Env"] == ["EXTRA=1"] and body["Labels"] == {"org.example.extra": "yes"}
    for key in ("Cmd", "Entrypoint", "User", "WorkingDir", "Volumes", "ExposedPorts", "Healthcheck"):
        assert key not in body, key


def test_without_the_image_config_everything_is_carried():
    body = body_of("ee")
    assert body["Entrypoint"] == ["/opt/builder/bin/entrypoint", "dumb-init"] and body["Cmd"] == ["bash"]
    assert (body["User"], body["WorkingDir"]) == ("1000", "/runner") and len(body["Env"]) == 3


def test_an_entrypoint_reset_by_the_user_stays_reset():
    body = body_of("ee-noentry", image_config=image_config())
    assert body["Entrypoint"] == [""] and body["Cmd"] == ["ls", "-l"]
    assert (body["User"], body["WorkingDir"]) == ("root", "/") and "Env" not in body


def test_links_and_volumes_from_take_the_create_form_and_the_new_names():
    host = body_of("links")["HostConfig"]
    assert (host["Links"], host["VolumesFrom"]) == (["dockyard-spec-minimal:db"], ["dockyard-spec-volsrc:ro"])
    assert not host.get("Mounts")  # the volumes come through VolumesFrom, not pinned here
    renamed = {"dockyard-spec-minimal": "db-copy", "dockyard-spec-volsrc": "src-copy"}
    host = body_of("links", renamed=renamed)["HostConfig"]
    assert (host["Links"], host["VolumesFrom"]) == (["db-copy:db"], ["src-copy:ro"])


def test_another_containers_network_is_renamed_and_gives_no_hostname():
    inspect = load("netshare")
    old = inspect["HostConfig"]["NetworkMode"][len("container:"):]
    body = spec.create_body(inspect, "x", renamed={old: "new-id"})[1]
    assert body["HostConfig"]["NetworkMode"] == "container:new-id"
    assert "Hostname" not in body and "Domainname" not in body and "NetworkingConfig" not in body


def on_two_networks():
    """The network fixture as if on two user-defined networks (static IPs, aliases, Docker's short-ID alias)."""
    inspect = load("network")
    inspect["HostConfig"]["NetworkMode"] = "backend"
    operational = {"NetworkID": "n" * 64, "EndpointID": "e" * 64, "IPAddress": "172.30.0.10", "IPPrefixLen": 16,
                   "Gateway": "172.30.0.1", "MacAddress": "02:42:ac:1e:00:0a", "DNSNames": ["x"]}
    inspect["NetworkSettings"]["Networks"] = {
        "backend": dict(operational, Aliases=["db", inspect["Id"][:12]], IPAMConfig={"IPv4Address": "172.30.0.10"}),
        "frontend": dict(operational, Aliases=["api"], IPAMConfig=None, DriverOpts={"o": "1"}),
    }
    return inspect


def test_networks_keep_aliases_and_static_ips_one_at_create_before_api_1_44():
    inspect = on_two_networks()
    body = spec.create_body(inspect, "x")[1]
    assert body["NetworkingConfig"] == {"EndpointsConfig": {
        "backend": {"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "172.30.0.10"}}}}
    assert spec.connect_bodies(inspect, renamed={"dockyard-spec-network": "copy"}) == [
        ("frontend", {"Container": "copy", "EndpointConfig": {"Aliases": ["api"], "DriverOpts": {"o": "1"}}})]


def test_networks_all_at_create_from_api_1_44():
    inspect = on_two_networks()
    body = spec.create_body(inspect, "x", api_version="1.44")[1]
    assert sorted(body["NetworkingConfig"]["EndpointsConfig"]) == ["backend", "frontend"]
    assert spec.connect_bodies(inspect, api_version="1.47") == []


# ---------------------------------------------------------------- differences

@pytest.mark.parametrize("name", NAMES)
def test_a_container_has_no_differences_with_itself(name):
    assert spec.differences(load(name), load(name)) == []


def test_what_legitimately_changes_is_not_a_difference():
    a, b = load("process"), load("process")
    b.update(Id="f" * 64, Created="2030-01-01T00:00:00Z", Image="sha256:" + "c" * 64, Name="/elsewhere",
             Driver="overlayfs", ResolvConfPath="/x", HostsPath="/y", HostnamePath="/z", LogPath="/l",
             RestartCount=4, GraphDriver={"Name": "overlayfs"}, MountLabel="m", ProcessLabel="p")
    b["State"].update(Status="running", Running=True, Pid=4242, StartedAt="2030-01-01T00:00:01Z")
    b["NetworkSettings"].update(IPAddress="172.17.0.9", SandboxID="s", Ports={"80/tcp": None})
    b["Config"]["Env"] = list(reversed(b["Config"]["Env"]))
    assert spec.differences(a, b) == []


def changed(name, change):
    a, b = load(name), load(name)
    change(b)
    return spec.differences(a, b)


def test_a_changed_env_is_found():
    def change(b):
        b["Config"]["Env"] = ["A=1", "B=three words"]
    assert changed("process", change) == ['Config.Env: removed ["B=two words"], added ["B=three words"]']


def test_a_changed_command_and_entrypoint_are_found():
    def change(b):
        b["Config"]["Cmd"] = ["sleep 1000", "-c"]
        b["Config"]["Entrypoint"] = None
    assert changed("process", change) == ['Config.Cmd: ["-c", "sleep 1000"] -> ["sleep 1000", "-c"]',
                                          'Config.Entrypoint: ["/bin/sh"] -> (unset)']


def test_a_new_anonymous_volume_instead_of_the_same_one_is_found():
    def change(b):
        mount(b, "/cache")["Name"] = "0" * 64
    assert changed("storage", change) == ['Mounts./cache.Name: "%s" -> "%s"' % (
        mount(load("storage"), "/cache")["Name"], "0" * 64)]


def test_a_changed_bind_and_a_lost_mount_are_found():
    def change(b):
        mount(b, "/host-etc")["RW"] = True
        b["Mounts"] = [m for m in b["Mounts"] if m["Destination"] != "/logs"]
        b["HostConfig"]["Binds"] = ["dockyard-spec-data:/data", "/etc:/host-etc"]
    got = changed("storage", change)
    assert 'HostConfig.Binds: removed ["/etc:/host-etc:ro"], added ["/etc:/host-etc"]' in got
    assert "Mounts./host-etc.RW: false -> true" in got
    assert any(line.startswith("Mounts./logs.Name: \"dockyard-spec-logs\" -> (unset)") for line in got)


def test_a_changed_restart_policy_and_port_binding_are_found():
    def change(b):
        b["HostConfig"]["RestartPolicy"] = {"MaximumRetryCount": 0, "Name": "always"}
        b["HostConfig"]["PortBindings"]["80/tcp"] = [{"HostIp": "0.0.0.0", "HostPort": "18080"}]
    assert changed("network", change) == [
        'HostConfig.PortBindings.80/tcp: [{"HostIp": "127.0.0.1", "HostPort": "18080"}] -> '
        '[{"HostIp": "0.0.0.0", "HostPort": "18080"}]',
        "HostConfig.RestartPolicy.MaximumRetryCount: 3 -> 0",
        'HostConfig.RestartPolicy.Name: "on-failure" -> "always"']


def test_changed_labels_limits_and_healthcheck_are_found():
    def change(b):
        del b["Config"]["Labels"]["empty"]
        b["Config"]["Healthcheck"]["Retries"] = 5
        b["HostConfig"]["Memory"] = 0
    assert changed("process", change) == ['Config.Healthcheck.Retries: 3 -> 5', 'Config.Labels.empty: "" -> (unset)']
    assert changed("limits", lambda b: b["HostConfig"].update(Memory=0, CapAdd=None)) == [
        'HostConfig.CapAdd: removed ["NET_ADMIN"]', "HostConfig.Memory: 268435456 -> 0"]


def test_changed_aliases_and_static_ips_are_found_and_dockers_short_id_alias_is_not():
    a, b = on_two_networks(), on_two_networks()
    b["Id"] = "9" * 64
    b["NetworkSettings"]["Networks"]["backend"]["Aliases"] = ["db", "9" * 12]
    assert spec.differences(a, b) == []
    b["NetworkSettings"]["Networks"]["backend"]["IPAMConfig"] = {"IPv4Address": "172.30.0.11"}
    del b["NetworkSettings"]["Networks"]["frontend"]
    assert spec.differences(a, b) == [
        'Networks.backend.IPAMConfig.IPv4Address: "172.30.0.10" -> "172.30.0.11"',
        'Networks.frontend.Aliases: removed ["api"]', 'Networks.frontend.DriverOpts.o: "1" -> (unset)']


def test_the_image_is_compared_by_name_not_by_id():
    assert changed("minimal", lambda b: b["Config"].update(Image="sha256:" + "d" * 64)) == []
    assert changed("minimal", lambda b: b["Config"].update(Image="other:1")) == [
        'Config.Image: "dockyard-ee-base:bookworm-4106620b73c3" -> "other:1"']


def test_references_to_other_containers_are_compared_through_renamed():
    a = load("netshare")
    b = copy.deepcopy(a)
    b["HostConfig"]["NetworkMode"] = "container:" + "7" * 64
    old = a["HostConfig"]["NetworkMode"][len("container:"):]
    assert spec.differences(a, b) == ['HostConfig.NetworkMode: "container:%s" -> "container:%s"' % (old, "7" * 64)]
    assert spec.differences(a, b, renamed={old: "7" * 64}) == []


# ---------------------------------------------------------------- recreated on the local engine

def engine_client():
    try:
        client = api.DockerClient(timeout=TIMEOUT)
    except api.DockerError:
        return None
    return client if client.ping() else None


CLIENT = engine_client()
live = pytest.mark.skipif(CLIENT is None, reason="no Docker engine answers on its socket")


@pytest.fixture
def engine():
    """The local engine, one test at a time across pytest-xdist workers (the fixtures share volume names)."""
    with open(os.path.join("/tmp", "dockyard-spec-engine.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield CLIENT
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def volumes_named(inspect):
    return set(m["Name"] for m in inspect["Mounts"] if m.get("Type") == "volume")


def existing_volumes(client):
    return set(v["Name"] for v in client.get("/volumes").get("Volumes") or ())


@contextlib.contextmanager
def copies(client, volumes):
    """Names of containers to create; on the way out they are removed, and the VOLUMES they made (none that
    existed before)."""
    before = existing_volumes(client)
    made = []
    try:
        yield made
    finally:
        for name in made:
            with contextlib.suppress(api.DockerAPIError):
                client.delete("/containers/" + name, params={"force": True, "v": True})
        for volume in sorted(set(volumes) - before):
            with contextlib.suppress(api.DockerAPIError):
                client.delete("/volumes/" + volume)


def recreate(client, made, inspect, name, **kwargs):
    _old, body = spec.create_body(inspect, inspect["Config"]["Image"], api_version=client.api_version, **kwargs)
    made.append(name)
    client.post("/containers/create", params={"name": name}, body=body)
    return client.get("/containers/%s/json" % name)


def skip_without_image(client, inspect):
    try:
        client.get("/images/%s/json" % api.quote_ref(inspect["Config"]["Image"]))
    except api.DockerAPIError:
        pytest.skip("image %s is not on this engine (never pulled)" % inspect["Config"]["Image"])


def same_engine(client):
    with open(os.path.join(HERE, "engine.json")) as f:
        return client.version().get("Version") == json.load(f)["Version"]


@live
@pytest.mark.parametrize("name", STANDALONE)
def test_a_copy_created_from_the_body_has_the_same_configuration(engine, name):
    original = load(name)
    skip_without_image(engine, original)
    kwargs = {"image_config": image_config()} if name.startswith("ee") else {}
    with copies(engine, volumes_named(original)) as made:
        first = recreate(engine, made, original, "dockyard-spec-copy-" + name, **kwargs)
        if same_engine(engine):
            assert spec.differences(original, first) == []
        # and from the copy's own inspect, whatever the engine's version: a second copy equals the first
        second = recreate(engine, made, first, "dockyard-spec-copy2-" + name)
        assert spec.differences(first, second) == []
        assert volumes_named(second) == volumes_named(first) == volumes_named(original)


@live
def test_copies_that_reference_each_other_are_the_same_through_renamed(engine):
    originals = dict((name, load(name)) for name in ("minimal", "volsrc", "links", "netshare"))
    skip_without_image(engine, originals["minimal"])
    with copies(engine, volumes_named(originals["volsrc"])) as made:
        renamed, got = {}, {}
        for name, original in originals.items():
            new_name = "dockyard-spec-copy-ref-" + name
            got[name] = recreate(engine, made, original, new_name, renamed=renamed)
            renamed.update({original["Id"]: got[name]["Id"], spec.container_name(original): new_name})
        for name, original in originals.items():
            if same_engine(engine):
                assert spec.differences(original, got[name], renamed=renamed) == [], name
        assert got["links"]["HostConfig"]["VolumesFrom"] == ["dockyard-spec-copy-ref-volsrc:ro"]


@live
def test_a_copy_made_with_another_restart_policy_and_env_is_told_apart(engine):
    original = load("process")
    skip_without_image(engine, original)
    with copies(engine, ()) as made:
        first = recreate(engine, made, original, "dockyard-spec-copy-changed-a")
        changed_inspect = copy.deepcopy(first)
        changed_inspect["Config"]["Env"] = ["A=2", "B=two words"]
        changed_inspect["HostConfig"]["RestartPolicy"] = {"MaximumRetryCount": 0, "Name": "always"}
        second = recreate(engine, made, changed_inspect, "dockyard-spec-copy-changed-b")
        assert spec.differences(first, second) == ['Config.Env: removed ["A=1"], added ["A=2"]',
                                                   'HostConfig.RestartPolicy.Name: "no" -> "always"']
