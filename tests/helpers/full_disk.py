"""Run a command on a small tmpfs that is full at a chosen point, then again with the space freed.

    unshare -rm python -m tests.helpers.full_disk MOUNT SIZE BUDGETS_JSON COPY_TO -- COMMAND...

Inside its own mount namespace (`unshare -rm`: no root needed where user namespaces are allowed) it mounts
a tmpfs of SIZE at MOUNT, and for each budget: fills the tmpfs to leave that many bytes free, runs
COMMAND (its output on the tmpfs), frees the space, runs COMMAND again, and copies MOUNT/out to
COPY_TO/<budget> (the tmpfs is gone when the namespace ends). It prints, as JSON, each budget's exit
statuses and last stderr lines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys


def main(argv: list[str]) -> None:
    mount, size, budgets, copy_to = argv[0], argv[1], json.loads(argv[2]), argv[3]
    command = argv[argv.index("--") + 1 :]
    os.makedirs(mount, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mount], check=True)
    results = []
    for budget in budgets:
        for name in os.listdir(mount):
            path = os.path.join(mount, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        stat = os.statvfs(mount)
        with open(os.path.join(mount, "filler"), "wb") as f:
            f.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - budget))
        full = subprocess.run(command, capture_output=True, text=True)
        os.remove(os.path.join(mount, "filler"))
        freed = subprocess.run(command, capture_output=True, text=True)
        if os.path.isdir(os.path.join(mount, "out")):
            shutil.copytree(os.path.join(mount, "out"), os.path.join(copy_to, str(budget)))
        results.append(
            {
                "budget": budget,
                "full": [full.returncode, full.stderr.strip().splitlines()[-12:]],
                "freed": [freed.returncode, freed.stderr.strip().splitlines()[-1:]],
            }
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
