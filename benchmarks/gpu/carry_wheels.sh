#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with the wheels the GPU machine lacks, for its Python 3.12 on manylinux x86_64,
# at the versions this checkout's .venv tests (so the GPU runs what CI runs), and check that they fit
# beside the tree in the 64 MiB that travel.
#
#   bash benchmarks/gpu/carry_wheels.sh            # pixsift's own wheel from this tree, the others downloaded
#                                              # (deepspeed: built here with DS_BUILD_OPS=0), then check
#   bash benchmarks/gpu/carry_wheels.sh --check    # only the size check of what .whl/ holds now
#
# The machine has torch, triton, transformers 5.17 (pixsift runs on it: the trainer tests pass there),
# huggingface_hub 1.x, torchvision, numba, timm, scikit-image, torchmetrics, peft, pyarrow and ninja; not these (DALI, 190-400 MB, and Ray, 76 MB, can never travel). The check prints
# every wheel's size, the tree's, the total, and the wheels that do not fit (the last of the list first:
# it is in order of value), and exits 1 when something does not fit. It also leaves the commit in
# .whl/git-sha, since the tree travels without its git folder (gpu_suite.sh reads it).
set -euo pipefail
cd "$(dirname "$0")/../.."

WHEEL_DIR=${WHEEL_DIR:-.whl}
LIMIT_MIB=${LIMIT_MIB:-64}
PY=${PYTHON:-.venv/bin/python}
# In order of value: pixsift itself (built from this tree: run this again after changing the code), the
# stages' own dependencies, the peers of the benchmarks last.
PACKAGES=(pixsift open_clip_torch ftfy wcwidth zarr numcodecs donfig google_crc32c diffusers importlib_metadata deepspeed
    hjson pydantic pydantic_core annotated_types typing_inspection nvtx webdataset braceexpand pytorch_msssim
    datasketch emoji kornia kornia_rs)

if [ "${1:-}" != "--check" ]; then
    mkdir -p "$WHEEL_DIR"
    pins=$("$PY" - "${PACKAGES[@]}" <<'EOF'
import importlib.metadata, sys
for name in sys.argv[1:]:
    print(f"{name}=={importlib.metadata.version(name)}")
EOF
)
    platforms=()
    for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
        platforms+=(--platform "$p")
    done
    for pin in $pins; do
        case $pin in
            pixsift==*)
                rm -f "$WHEEL_DIR"/pixsift-*.whl
                "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WHEEL_DIR" . ;;
            deepspeed==*)  # an sdist only: a pure-Python wheel whose ops compile just in time
                DS_BUILD_OPS=0 "$PY" -m pip wheel -q --no-deps --no-cache-dir -w "$WHEEL_DIR" "$pin" ;;
            *)
                "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
                    "${platforms[@]}" -d "$WHEEL_DIR" "$pin" ;;
        esac
    done
    git rev-parse --short=12 HEAD >"$WHEEL_DIR/git-sha"
fi

"$PY" - "$WHEEL_DIR" "$LIMIT_MIB" "${PACKAGES[@]}" <<'EOF'
import os, re, subprocess, sys
from pathlib import Path

folder, limit = Path(sys.argv[1]), int(sys.argv[2]) * 2**20
order = [p.lower().replace("-", "_") for p in sys.argv[3:]]
listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                        capture_output=True, check=True).stdout.split(b"\0")
tree = sum(os.path.getsize(p) for p in listed if p and os.path.isfile(p))
wheels = sorted(folder.glob("*.whl"), key=lambda w: (order.index(n) if (n := re.split(r"-\d", w.name)[0].lower()) in order else len(order), w.name))
print(f"tree (tracked and untracked-not-ignored files): {tree / 2**20:6.1f} MiB")
total, left_out = tree, []
for wheel in wheels:
    size = wheel.stat().st_size
    fits = total + size <= limit
    total += size if fits else 0
    left_out += [] if fits else [wheel.name]
    print(f"  {wheel.name:<70} {size / 2**20:6.1f} MiB{'' if fits else '  does not fit'}")
print(f"total {total / 2**20:.1f} of {limit / 2**20:.0f} MiB" + (f"; left out: {', '.join(left_out)}" if left_out else "; everything fits"))
sys.exit(1 if left_out else 0)
EOF
