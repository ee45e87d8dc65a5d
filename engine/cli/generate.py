"""`pixsift generate t2i` and `pixsift generate edit`: the command-line side of engine.generate."""

from __future__ import annotations

from pixsift.engine.core.commands import add_command, config_from
from pixsift.engine.core.pipeline import Stage
from pixsift.engine.generate.config import OUTPUT_KIND, GenerateConfig

# The input is named for what it holds.
_INPUT_FLAGS = {"t2i": "--captions", "edit": "--pairs"}


def add(p) -> None:
    """The command, with a subcommand per task (its own flag for the input); the stage is declared below."""
    p.description = (
        "Generate text-to-image or editing candidates into shards that `pixsift score` reads. "
        "Run the same command again to resume a killed job: finished shards are kept."
    )
    tasks = p.add_subparsers(dest="task", required=True)
    for task, help_text in (
        ("t2i", "captions -> N images per caption"),
        ("edit", "(source image, instruction) pairs -> edited images"),
    ):
        t = add_command(
            tasks.add_parser(task, help=help_text, description=help_text),
            _run,
            config=GenerateConfig,
            skip=("task",),
            rename={"inputs": _INPUT_FLAGS[task]},
        )
        t.add_argument("--resolution", type=int, help="square side: sets --width and --height")


def _run(args) -> int:
    side = args.resolution
    cfg = config_from(
        args, GenerateConfig, task=args.task, width=args.width or side, height=args.height or side
    )
    return run_generate(cfg)


def run_generate(cfg: GenerateConfig) -> int:
    from pixsift.engine.generate.job import generate

    print(generate(cfg).text())
    return 0


STAGE = Stage(
    "generate",
    after=(),
    config=GenerateConfig,
    run=run_generate,
    outputs=lambda cfg: [cfg.out],
    settings=lambda cfg: cfg.value_settings(),
    limit_key="limit",
    kind=OUTPUT_KIND,
    inputs=lambda cfg: [cfg.inputs, cfg.pipeline],
)
