# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _image_stream, _images


@pytest.mark.parametrize("argv,images,match", [
    ([], [{"id": "sha256:" + "a" * 64}], "src_command must be a non-empty list"),
    (["ssh", ""], [{"id": "sha256:" + "a" * 64}], "src_command must be a non-empty list"),
    (["ssh", "h", "docker", "save", "x"], [], "images must list what src_command brings"),
    (["ssh", "h", "docker", "save", "x"], [{"tags": ["x:1"]}], "images must list what src_command brings"),
])
def test_load_command_refuses_bad_input_before_touching_docker(argv, images, match):
    with pytest.raises(_images.ImageError, match=match):
        _image_stream.load_command(None, argv, images)
