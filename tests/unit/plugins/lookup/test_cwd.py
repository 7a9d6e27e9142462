# -*- coding: utf-8 -*-
"""dockyard.migrate.cwd: the controller's working directory, with or without PWD in the environment."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.dockyard.migrate.plugins.lookup.cwd import LookupModule


def test_the_working_directory_even_without_pwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PWD", raising=False)
    assert LookupModule().run([]) == [str(tmp_path)]


def test_a_stale_pwd_is_not_taken(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", "/somewhere/else")
    assert LookupModule().run([]) == [os.getcwd()] == [str(tmp_path)]


def test_terms_are_refused():
    with pytest.raises(AnsibleLookupError, match="takes no terms"):
        LookupModule().run(["x"])
