# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _images, _snapshot


@pytest.mark.parametrize("change,match", [
    ("RUN apt-get update", "RUN is not an instruction docker import accepts"),
    ("", "an empty line is not an instruction"),
    ("CMD", "CMD needs an argument"),
    ('CMD ["a", ', "the JSON array is not valid"),
    ('ENTRYPOINT [1, 2]', "must be an array of strings"),
    ("ENV JUSTKEY", "ENV needs KEY=VALUE"),
])
def test_bad_changes_are_named(change, match):
    with pytest.raises(_images.ImageError, match=match):
        _snapshot.validate_changes([change])


def test_good_changes_are_normalised():
    assert _snapshot.validate_changes(['cmd ["nginx", "-g", "daemon off;"]', "ENV A=b", "ENV A b",
                                       "LABEL x=y", "WORKDIR /srv", "EXPOSE 80/tcp"]) == [
        'CMD ["nginx", "-g", "daemon off;"]', "ENV A=b", "ENV A b", "LABEL x=y", "WORKDIR /srv", "EXPOSE 80/tcp"]


def test_config_changes_restore_what_export_drops():
    config = {"Cmd": ["/bin/sh", "-c", "echo hi"], "Entrypoint": None, "Env": ["PATH=/bin", "MSG=a b"],
              "WorkingDir": "/srv", "User": "1000", "ExposedPorts": {"80/tcp": {}}, "Labels": {"a": "1"},
              "Volumes": {"/data": {}}, "StopSignal": "SIGTERM", "Healthcheck": None}
    out = _snapshot.config_changes(config)
    assert out == ['CMD ["/bin/sh", "-c", "echo hi"]', 'ENV PATH="/bin"', 'ENV MSG="a b"', "WORKDIR /srv",
                   "USER 1000", "EXPOSE 80/tcp", 'LABEL "a"="1"', 'VOLUME ["/data"]']
    assert _snapshot.validate_changes(out) == out


@pytest.mark.parametrize("name,expected", [
    ("test/ubuntu:v1.0", ("test/ubuntu", "v1.0")),
    ("test/ubuntu", ("test/ubuntu", "latest")),
    ("localhost:5000/app", ("localhost:5000/app", "latest")),
    ("localhost:5000/app:2", ("localhost:5000/app", "2")),
])
def test_split_name(name, expected):
    assert _snapshot.split_name(name) == expected


@pytest.mark.parametrize("name", ["", "Test/Ubuntu:1", "a b", "repo:"])
def test_bad_names(name):
    with pytest.raises(_images.ImageError, match="is not an image name"):
        _snapshot.split_name(name)


def test_export_signature_ignores_order_of_changes():
    info = {"Id": "c1", "State": {"StartedAt": "s", "FinishedAt": "f", "Running": False}}
    a = _snapshot.export_signature(info, [{"Kind": 1, "Path": "/b"}, {"Kind": 0, "Path": "/a"}])
    b = _snapshot.export_signature(info, [{"Kind": 0, "Path": "/a"}, {"Kind": 1, "Path": "/b"}])
    assert a == b
    assert a != _snapshot.export_signature(dict(info, State={"StartedAt": "s2", "FinishedAt": "f"}), [])
