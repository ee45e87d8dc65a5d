"""The install: one import name (`pixsift`), Hugging Face's `kernels` found from the repository root, the
dev environment exactly as requirements.lock pins it, and a `pixsift` command whose --version and --help
import nothing heavy while every command's own --help loads its module."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pixsift.engine.cli import COMMANDS, main, registered
from tests.helpers.lock import differences

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "diffusers", "open_clip", "deepspeed", "ray", "numpy", "zarr", "PIL")


def run_python(code: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_wheel_installs_the_one_import_name_pixsift_with_its_data_and_commands(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp_path,
            REPO,
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("pixsift-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
    assert {n.split("/")[0] for n in names} == {"pixsift", dist_info}
    assert {"pixsift/engine/select/recipes/synthvlm.toml", "pixsift/trainer/train/recipes/tiny.toml"} <= set(
        names
    )
    assert "pixsift/trainer/train/configs/zero3.json" in names and "pixsift/engine/cli/__init__.py" in names
    # No package of the three roots: pixsift, pixsift.engine, ... are namespace packages (setup.py).
    assert not {"pixsift/__init__.py", "pixsift/engine/__init__.py", "pixsift/kernels/__init__.py"} & set(
        names
    )
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "pixsift = pixsift.engine.cli:main" in entry_points
    assert "convert-janus = pixsift.trainer.commands:CONVERT_JANUS" in entry_points


def test_from_the_repository_root_kernels_is_hugging_faces_and_transformers_and_diffusers_load():
    """Python puts the repository root first on sys.path for `python -c`; the root's kernels/ and trainer/
    folders have no __init__.py, so they lose to the installed distributions of those names."""
    done = run_python(
        "import json, kernels, transformers.modeling_utils, diffusers.pipelines, pixsift.engine.cli\n"
        "from diffusers import StableDiffusionPipeline\n"
        "from transformers import JanusForConditionalGeneration\n"
        "print(json.dumps({'kernels': kernels.__file__, 'pixsift': pixsift.engine.cli.__file__}))"
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert "site-packages" in found["kernels"] and Path(found["kernels"]).parent.name == "kernels"
    assert Path(found["pixsift"]) == REPO / "engine" / "cli" / "__init__.py"


@pytest.mark.skipif(Path(sys.prefix) != REPO / ".venv", reason="checks dev.sh's .venv against the lock")
def test_the_dev_environment_is_exactly_the_lock():
    assert differences(str(REPO / "requirements.lock")) == []


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_nothing_heavy(argv):
    done = run_python(
        "import json, sys\n"
        "from pixsift.engine.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
    assert ("pixsift " in done.stdout) if argv == ["--version"] else ("convert-janus" in done.stdout)


# `demo` is the kernels' demonstration in one module. (The trainer's commands, registered(), are not
# checked: their flags come from configs that import torch.)
LOADS_TORCH_FOR_HELP = {"demo"}


@pytest.mark.parametrize("command", [c.name for c in COMMANDS if c.name not in LOADS_TORCH_FOR_HELP])
def test_a_commands_help_loads_no_model_library(command):
    done = run_python(
        "import json, sys\n"
        "from pixsift.engine.cli import main\n"
        f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'transformers', 'diffusers', 'open_clip'})))"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_every_command_is_listed_and_loads_its_own_parser(capsys):
    commands = [*COMMANDS, *registered()]
    assert {c.name for c in registered()} == {"tokenize", "train", "sample", "convert-janus"}
    for command in commands:
        with pytest.raises(SystemExit) as done:
            main([command.name, "--help"])
        assert done.value.code == 0
        usage = capsys.readouterr().out
        assert usage.startswith(f"usage: pixsift {command.name}")
        assert "--debug" in usage or command.name == "generate"  # generate's flags are on its tasks
