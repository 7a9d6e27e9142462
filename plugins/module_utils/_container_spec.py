# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A container recreated with the same configuration (in the other image store, issue 25), and the configuration
differences between two inspects of the "same" container.

``create_body(inspect, image_ref)`` turns an Engine API inspect (GET /containers/{id}/json) into the name and the
body of POST /containers/create?name=NAME; ``connect_bodies(inspect)`` the POST /networks/{net}/connect bodies for
the networks an older API cannot take at create; ``differences(a, b)`` says what differs, in words.

Carried into the body:

- Config: Hostname, Domainname, User, AttachStdin/Stdout/Stderr, Tty, OpenStdin, StdinOnce, Env, Cmd, Entrypoint,
  Healthcheck, ArgsEscaped, Volumes, WorkingDir, ExposedPorts, NetworkDisabled, MacAddress, OnBuild, Labels,
  StopSignal, StopTimeout, Shell. The hostname is carried even when Docker chose it (the old ID's first 12
  characters): software that keys its data on the hostname (a RabbitMQ node name) finds it again. Not for the host's
  or another container's network, whose hostname is not the container's own.
- HostConfig: every field, as the daemon reports it (binds, mounts, tmpfs, port bindings, network, IPC, PID, UTS,
  user and cgroup namespace modes, restart policy, every resource limit, devices, ulimits, capabilities, security
  options, masked and read-only paths, sysctls, DNS, extra hosts, init, log config, runtime, shm size, ...), with
  three rewrites: Links back to the create form ``name:alias``; references to other containers (``container:X``
  modes, VolumesFrom, links) through ``renamed``; anonymous volumes pinned (below).
- Anonymous volumes (an image's VOLUME, ``-v /path``, ``--mount type=volume`` without a source) are reattached to
  the same volume by name (a HostConfig.Mounts entry), never left for Docker to create a new, empty one.
- NetworkingConfig.EndpointsConfig: per network the static IPs (IPAMConfig), aliases (without the old ID's prefix
  Docker adds), links and driver options; every network from API 1.44 on, before it only the NetworkMode's one (the
  others are connected afterwards with ``connect_bodies``). None for the host, none or another container's network.

Given the image's config (``image_config``), what the daemon would fill from it anyway is left out: Env entries,
Labels, ExposedPorts and Volumes equal to the image's; Cmd with Entrypoint, WorkingDir, User, Healthcheck, StopSignal
and Shell when equal to the image's. Without it, they are carried as they are, which recreates the same values.

Deliberately not carried: Id, Created, State (a copy is created, not started), Config.Image (``image_ref`` instead:
the image may have another ID in the other store), Path/Args (derived from Entrypoint and Cmd), Name (returned
apart), ResolvConfPath, HostnamePath, HostsPath, LogPath, RestartCount, Driver, GraphDriver, Platform, MountLabel,
ProcessLabel (per container labels), AppArmorProfile (set at start), ExecIDs, sizes, the operational network
settings (endpoint and network IDs, addresses Docker assigned, the generated MAC address, DNSNames, bound ports) and
the writable layer's content (carried apart).

Internal to the dockyard.migrate collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import version_tuple

CONFIG_KEYS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin",
               "StdinOnce", "Env", "Cmd", "Entrypoint", "Healthcheck", "ArgsEscaped", "Volumes", "WorkingDir",
               "ExposedPorts", "NetworkDisabled", "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout",
               "Shell")
IMAGE_SCALARS = ("WorkingDir", "User", "Healthcheck", "StopSignal", "Shell")
IMAGE_MAPS = ("Labels", "ExposedPorts", "Volumes")
ENDPOINT_KEYS = ("IPAMConfig", "Aliases", "Links", "DriverOpts")
MODE_KEYS = ("NetworkMode", "IpcMode", "PidMode")
NO_ENDPOINT_MODES = ("host", "none")
MULTI_NETWORK_API = (1, 44)
IGNORED = ("Id", "Created", "Path", "Args", "State", "Image", "Name", "ResolvConfPath", "HostnamePath", "HostsPath",
           "LogPath", "RestartCount", "Driver", "GraphDriver", "Platform", "MountLabel", "ProcessLabel",
           "AppArmorProfile", "ExecIDs", "SizeRw", "SizeRootFs")
SETS = ("Env", "CapAdd", "CapDrop", "SecurityOpt", "ExtraHosts", "Dns", "DnsOptions", "DnsSearch", "GroupAdd",
        "DeviceCgroupRules", "Links", "VolumesFrom", "Aliases", "Binds")
MOUNT_OPTIONS = ("BindOptions", "VolumeOptions", "TmpfsOptions", "Consistency")


# ---------------------------------------------------------------- references to other containers

def container_name(inspect):
    """The name without Docker's leading slash."""
    return (inspect.get("Name") or "").lstrip("/")


def short_id(inspect):
    """The ID prefix Docker uses as a default hostname and network alias."""
    return (inspect.get("Id") or "")[:12]


def _rename(ref, renamed):
    """A container named or identified by REF, as the RENAMED mapping (old name or ID -> new) says."""
    return (renamed or {}).get(ref, ref)


def _mode(value, renamed):
    """A namespace mode, its ``container:X`` reference renamed."""
    if value and value.startswith("container:"):
        return "container:" + _rename(value[len("container:"):], renamed)
    return value


def _volumes_from(entry, renamed):
    """A VolumesFrom entry ``X`` or ``X:ro``, X renamed."""
    ref, sep, mode = entry.partition(":")
    return _rename(ref, renamed) + sep + mode


def _links(links, renamed):
    """HostConfig.Links as inspect reports them (``/other:/self/alias``) in the create form ``other:alias``."""
    out = []
    for link in links or ():
        target, _sep, alias = link.partition(":")
        out.append("%s:%s" % (_rename(target.lstrip("/"), renamed), alias.rsplit("/", 1)[-1]))
    return out


def _shared_network(host_config):
    """True when the container uses the host's or another container's network (and so their hostname)."""
    mode = host_config.get("NetworkMode") or ""
    return mode == "host" or mode.startswith("container:")


# ---------------------------------------------------------------- create

def create_body(inspect, image_ref, *, image_config=None, renamed=None, api_version="1.41"):
    """(name, body) for POST /containers/create?name=NAME that recreates the container INSPECT describes from
    IMAGE_REF. IMAGE_CONFIG (the image's inspect Config) drops what the image gives anyway; RENAMED maps other
    containers' old names or IDs to their new ones; API_VERSION decides how many networks go into the body."""
    config = inspect.get("Config") or {}
    body = dict((key, copy.deepcopy(config[key])) for key in CONFIG_KEYS if key in config)
    host_config = copy.deepcopy(inspect.get("HostConfig") or {})
    if _shared_network(host_config):
        body.pop("Hostname", None)
        body.pop("Domainname", None)
    body["Entrypoint"] = config.get("Entrypoint") or [""]  # [""] resets an image's entrypoint, as the CLI does
    if image_config is not None:
        _drop_image_defaults(body, config, image_config)
    body["Image"] = image_ref
    _rewrite_references(host_config, renamed)
    mounts = _mounts(inspect)
    if mounts or "Mounts" in host_config:
        host_config["Mounts"] = mounts or None
    body["HostConfig"] = host_config
    endpoints = _endpoints(inspect, renamed)
    if version_tuple(api_version) < MULTI_NETWORK_API:
        primary = _primary_network(host_config)
        endpoints = dict((net, cfg) for net, cfg in endpoints.items() if net == primary)
    if endpoints:
        body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return container_name(inspect), body


def _drop_image_defaults(body, config, image_config):
    """Leave out of BODY what the daemon fills from the image's config when the body does not say it."""
    image_env = set(image_config.get("Env") or ())
    env = [entry for entry in config.get("Env") or () if entry not in image_env]
    if env:
        body["Env"] = env
    else:
        body.pop("Env", None)
    for key in IMAGE_MAPS:
        image_map = image_config.get(key) or {}
        own = dict((k, v) for k, v in (config.get(key) or {}).items() if k not in image_map or image_map[k] != v)
        if own:
            body[key] = own
        else:
            body.pop(key, None)
    if (config.get("Cmd") or None) == (image_config.get("Cmd") or None) and \
            (config.get("Entrypoint") or None) == (image_config.get("Entrypoint") or None):
        body.pop("Cmd", None)
        body.pop("Entrypoint", None)
    for key in IMAGE_SCALARS:
        if (config.get(key) or None) == (image_config.get(key) or None):
            body.pop(key, None)


def _rewrite_references(host_config, renamed):
    """HostConfig's references to other containers in the create form, renamed."""
    for key in MODE_KEYS:
        if host_config.get(key):
            host_config[key] = _mode(host_config[key], renamed)
    if host_config.get("VolumesFrom"):
        host_config["VolumesFrom"] = [_volumes_from(entry, renamed) for entry in host_config["VolumesFrom"]]
    if host_config.get("Links"):
        host_config["Links"] = _links(host_config["Links"], renamed)


def _mounts(inspect):
    """HostConfig.Mounts with every anonymous volume pinned to the volume the container has now: the entries without
    a source get it, and each Config.Volumes path no bind or mount covers gets an entry of its own."""
    host_config = inspect.get("HostConfig") or {}
    by_destination = dict((m.get("Destination"), m) for m in inspect.get("Mounts") or ())
    mounts = []
    for entry in copy.deepcopy(host_config.get("Mounts") or []):
        held = by_destination.get(entry.get("Target")) or {}
        if entry.get("Type") == "volume" and not entry.get("Source") and held.get("Name"):
            entry["Source"] = held["Name"]
        mounts.append(entry)
    covered = set(entry.get("Target") for entry in mounts)
    covered.update(_bind_destination(bind) for bind in host_config.get("Binds") or ())
    for path in sorted((inspect.get("Config") or {}).get("Volumes") or {}):
        held = by_destination.get(path) or {}
        if path in covered or held.get("Type") != "volume" or not held.get("Name"):
            continue
        entry = {"Type": "volume", "Source": held["Name"], "Target": path, "ReadOnly": not held.get("RW", True)}
        if held.get("Driver") not in (None, "", "local"):
            entry["VolumeOptions"] = {"DriverConfig": {"Name": held["Driver"]}}
        mounts.append(entry)
    return mounts


def _bind_destination(bind):
    """The container path of a Binds entry ``source:destination[:options]``."""
    parts = bind.split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _primary_network(host_config):
    """The network NetworkMode names (``default`` is the bridge)."""
    mode = host_config.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def _endpoints(inspect, renamed=None):
    """{network: EndpointSettings} as the user configured them, for the container's own networks."""
    host_config = inspect.get("HostConfig") or {}
    mode = host_config.get("NetworkMode") or ""
    if mode in NO_ENDPOINT_MODES or mode.startswith("container:"):
        return {}
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    out = {}
    for net, settings in networks.items():
        endpoint = dict((key, copy.deepcopy(settings[key])) for key in ENDPOINT_KEYS if settings.get(key))
        aliases = [alias for alias in endpoint.get("Aliases") or () if alias != short_id(inspect)]
        if aliases:
            endpoint["Aliases"] = aliases
        else:
            endpoint.pop("Aliases", None)
        if endpoint.get("Links"):
            endpoint["Links"] = [_volumes_from(link, renamed) for link in endpoint["Links"]]
        out[net] = endpoint
    return out


def connect_bodies(inspect, *, renamed=None, api_version="1.41"):
    """[(network, body)] for POST /networks/{network}/connect after the create: the networks beyond NetworkMode's,
    which an API older than 1.44 does not take at create (none from 1.44 on)."""
    if version_tuple(api_version) >= MULTI_NETWORK_API:
        return []
    primary = _primary_network(inspect.get("HostConfig") or {})
    name = container_name(inspect)
    return [(net, {"Container": _rename(name, renamed), "EndpointConfig": endpoint})
            for net, endpoint in sorted(_endpoints(inspect, renamed).items()) if net != primary]


# ---------------------------------------------------------------- differences

def differences(a, b, *, renamed=None):
    """Human-readable configuration differences between two inspects A and B of the "same" container (the original
    and its copy in the other store); empty when they are the same. RENAMED maps A's references to other containers
    (names or IDs) to B's. Not compared: what legitimately changes (IGNORED: ID, name, created time, state, the
    image ID, paths, the driver, labels Docker generates), the operational network settings, a volume mount's Mode,
    the hostname of a container on a shared network, and Binds options beyond what Mounts shows."""
    views = _view(a, renamed), _view(b, None)
    if any(_image_id(view["Config"].get("Image")) for view in views):
        for view in views:
            view["Config"].pop("Image", None)
    out = []
    _diff("", views[0], views[1], out)
    return out


def _view(inspect, renamed):
    """What differences compares: the configuration with references renamed and volumes seen by name."""
    config = copy.deepcopy(inspect.get("Config") or {})
    host_config = copy.deepcopy(inspect.get("HostConfig") or {})
    if _shared_network(host_config):
        config.pop("Hostname", None)
    _rewrite_references(host_config, renamed)
    host_config["Mounts"] = dict(
        (entry.get("Target"), dict((k, entry[k]) for k in MOUNT_OPTIONS if entry.get(k)))
        for entry in host_config.get("Mounts") or ())
    mounts = {}
    for held in inspect.get("Mounts") or ():
        seen = dict((k, held.get(k)) for k in ("Type", "RW", "Propagation"))
        if held.get("Type") == "volume":
            seen.update(Name=held.get("Name"), Driver=held.get("Driver"))
        else:
            seen.update(Source=held.get("Source"), Mode=held.get("Mode"))
        mounts[held.get("Destination")] = seen
    endpoints = _endpoints(inspect, renamed)
    for endpoint in endpoints.values():
        _drop_empty_driver_config(endpoint)
    return {"Config": config, "HostConfig": host_config, "Mounts": mounts, "Networks": endpoints}


def _drop_empty_driver_config(endpoint):
    """An endpoint's IPAMConfig with only empty fields is the same as none."""
    ipam = endpoint.get("IPAMConfig") or {}
    if not any(ipam.values()):
        endpoint.pop("IPAMConfig", None)


def _image_id(ref):
    """True for an image ID (``sha256:...`` or 64 hex digits) rather than a name: IDs differ between stores."""
    ref = ref or ""
    digits = ref[len("sha256:"):] if ref.startswith("sha256:") else ref
    return len(digits) == 64 and all(c in "0123456789abcdef" for c in digits)


def _empty(value):
    return value is None or value == [] or value == {}


def _diff(path, x, y, out):
    """Append to OUT a line for each leaf of X and Y under PATH that differs."""
    if _empty(x) and _empty(y) or x == y:
        return
    if isinstance(x, dict) and isinstance(y, dict) or _empty(x) and isinstance(y, dict) or \
            isinstance(x, dict) and _empty(y):
        x, y = x or {}, y or {}
        for key in sorted(set(x) | set(y), key=str):
            _diff("%s.%s" % (path, key) if path else str(key), x.get(key), y.get(key), out)
        return
    name = path.rsplit(".", 1)[-1]
    if name in SETS and isinstance(x or [], list) and isinstance(y or [], list):
        removed = [v for v in x or () if v not in (y or ())]
        added = [v for v in y or () if v not in (x or ())]
        if not removed and not added:
            return  # the same entries in another order
        parts = ["removed %s" % _show(removed)] if removed else []
        parts += ["added %s" % _show(added)] if added else []
        out.append("%s: %s" % (path, ", ".join(parts)))
        return
    out.append("%s: %s -> %s" % (path, _show(x), _show(y)))


def _show(value):
    """A value as it reads in a message: JSON, or ``(unset)``."""
    if _empty(value):
        return "(unset)"
    return json.dumps(value, sort_keys=True)
