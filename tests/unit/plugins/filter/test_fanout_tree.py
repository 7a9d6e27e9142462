# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.filter.fanout_tree import fanout_tree


def hosts(n):
    return ["d%04d" % i for i in range(n)]


def test_the_source_serves_the_first_two_and_each_destination_the_next_two():
    tree = fanout_tree(["h2", "h3", "h4", "h5", "h6"], "h1")
    assert tree == {
        "h2": {"parent": "h1", "depth": 1, "children": ["h4", "h5"]},
        "h3": {"parent": "h1", "depth": 1, "children": ["h6"]},
        "h4": {"parent": "h2", "depth": 2, "children": []},
        "h5": {"parent": "h2", "depth": 2, "children": []},
        "h6": {"parent": "h3", "depth": 2, "children": []},
    }


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 9, 30, 100, 1000])
def test_no_sender_serves_more_than_two_and_every_parent_receives_first(n):
    dests = hosts(n)
    tree = fanout_tree(dests, "src")
    assert sorted(tree) == dests
    served = collections.Counter(v["parent"] for v in tree.values())
    assert max(served.values()) <= 2
    assert served["src"] == min(2, n)
    for host, v in tree.items():
        if v["parent"] == "src":
            assert v["depth"] == 1
        else:
            # The parent has received in an earlier round, and lists this host as its child.
            assert tree[v["parent"]]["depth"] == v["depth"] - 1
            assert host in tree[v["parent"]]["children"]
        assert len(v["children"]) <= 2
    # A binary tree: n destinations take the fewest rounds two senders per host allow (2 + 4 + ... >= n).
    rounds = max(v["depth"] for v in tree.values())
    assert 2 ** (rounds + 1) - 2 >= n > 2 ** rounds - 2


def test_eight_destinations_take_three_rounds_of_two_four_and_two():
    tree = fanout_tree(hosts(8), "src")
    by_round = collections.Counter(v["depth"] for v in tree.values())
    assert by_round == {1: 2, 2: 4, 3: 2}


def test_the_order_given_is_kept():
    tree = fanout_tree(["b", "a", "c"], "s")
    assert tree["b"]["parent"] == "s" and tree["a"]["parent"] == "s" and tree["c"]["parent"] == "b"


def test_no_destinations_is_an_empty_tree():
    assert fanout_tree([], "src") == {}


@pytest.mark.parametrize("dests,source,match", [
    ("h2,h3", "h1", "list of host names"),
    (["h2", ""], "h1", "list of host names"),
    (["h2", 3], "h1", "list of host names"),
    (["h2", "h3", "h2"], "h1", "h2 is named twice"),
    (["h1", "h2"], "h1", "source h1 is also a destination"),
    (["h2"], "", "source must be a host name"),
    (["h2"], None, "source must be a host name"),
])
def test_bad_input_is_refused_with_the_problem_named(dests, source, match):
    with pytest.raises(AnsibleFilterError, match=match):
        fanout_tree(dests, source)
