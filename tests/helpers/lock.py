"""The installed distributions against requirements.lock: what differs, for the lock test and for
`./dev.sh canary` (`python -m tests.helpers.lock requirements.lock` prints the table)."""

from __future__ import annotations

import re
import sys
import sysconfig
from importlib.metadata import distributions

from packaging.markers import Marker
from packaging.utils import canonicalize_name

PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*(.+?))?\s*\\?$")


def locked(lock: str) -> dict[str, str]:
    """The pins of `lock` that apply to this interpreter and platform: name -> version."""
    pins = {}
    for line in open(lock):
        m = PIN.match(line)
        if m and (m[3] is None or Marker(m[3]).evaluate()):
            pins[canonicalize_name(m[1])] = m[2]
    return pins


def differences(lock: str) -> list[tuple[str, str, str]]:
    """(name, locked version or "-", installed version or "-") for each distribution where they differ;
    pixsift itself is not in the lock. Installed means in this environment's site-packages: not what a
    library adds to sys.path at run time (Ray puts its bundled third-party packages there)."""
    pins = locked(lock)
    site = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions(path=sorted(site))}
    installed.pop("pixsift", None)
    return [
        (name, pins.get(name, "-"), installed.get(name, "-"))
        for name in sorted(pins.keys() | installed.keys())
        if pins.get(name) != installed.get(name)
    ]


if __name__ == "__main__":
    rows = differences(sys.argv[1])
    print(
        f"{len(rows)} distributions differ from {sys.argv[1]}"
        + (" (name, locked, installed):" if rows else "")
    )
    for name, pin, version in rows:
        print(f"  {name:<36} {pin:<20} {version}")
