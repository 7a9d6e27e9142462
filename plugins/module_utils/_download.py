# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An archive (and its sidecar) fetched from a URL.  Internal to the dockyard.migrate collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

from ansible.module_utils.six.moves.urllib.error import URLError
from ansible.module_utils.six.moves.urllib.parse import urlparse
from ansible.module_utils.urls import open_url

from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError


def download(url, directory, timeout=60):
    """Fetch url (and its sidecar url.json, when there is one) into directory, streamed."""
    name = os.path.basename(urlparse(url).path) or "archive"
    dest = os.path.join(directory, name)
    try:
        with open_url(url, timeout=timeout) as resp, open(dest, "wb") as f:
            shutil.copyfileobj(resp, f, 1024 * 1024)
    except (URLError, OSError, ValueError) as exc:
        raise ImageError("cannot download %s: %s" % (url, exc))
    try:
        with open_url(url + ".json", timeout=timeout) as resp, open(dest + ".json", "wb") as f:
            shutil.copyfileobj(resp, f)
    except (URLError, OSError, ValueError):
        if os.path.exists(dest + ".json"):
            os.unlink(dest + ".json")
    return dest
