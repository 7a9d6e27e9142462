# -*- coding: utf-8 -*-
"""Stand-in for pip's get-pip.py bootstrap, for machines that cannot reach its download host.

ansible-test runs it inside a fresh virtual environment with pip's install
arguments.  It bootstraps pip from the interpreter's own ensurepip, then runs
``pip install`` with those arguments.  Where the package index is reached
through a TLS proxy whose CA is in the system bundle, it points pip at that
bundle (ansible-test runs pip with a minimal environment that drops
SSL_CERT_FILE), both now and, through a .pth file, for later pip runs in the
same environment.

scripts/sanity.sh installs it only after ansible-test's own download failed.
"""
import ensurepip
import os
import site
import subprocess
import sys

BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def main():
    if os.path.exists(BUNDLE):
        os.environ["SSL_CERT_FILE"] = BUNDLE
        for d in site.getsitepackages():
            if d.startswith(sys.prefix) and os.path.isdir(d):
                with open(os.path.join(d, "dockyard_ssl_cert.pth"), "w") as f:
                    f.write("import os; os.environ.setdefault('SSL_CERT_FILE', %r)\n" % BUNDLE)
                break
    saved = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=saved, timeout=900))


if __name__ == "__main__":
    main()
