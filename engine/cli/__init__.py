"""The `pixsift` command: `pixsift generate`, `score`, `inspect`, `select`, `export`, `report`, `demo`,
`tokenize`, `train`."""

from __future__ import annotations

import argparse
import sys

from engine.cli.generate import add_generate
from engine.cli.select import add_select
from engine.executors.config import add_executor_arguments, executor_arguments
from trainer.tokenize_cli import add_tokenize
from trainer.train_cli import add_train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pixsift", description="GPU-native image-text data engine")
    sub = parser.add_subparsers(dest="command", required=True)
    add_generate(sub)
    _add_score(sub)
    _add_inspect(sub)
    add_select(sub)
    _add_export(sub)
    _add_report(sub)
    _add_demo(sub)
    add_tokenize(sub)
    add_train(sub)
    args = parser.parse_args(_without_local_rank(sys.argv[1:] if argv is None else argv))
    return args.func(args)


def _without_local_rank(argv: list[str]) -> list[str]:
    """The `deepspeed` launcher passes `--local_rank=N` before the command (unless `--no_local_rank`);
    the trainer reads LOCAL_RANK from the environment, which the launcher also sets."""
    return [a for a in argv if not a.startswith("--local_rank=")]


def _add_score(sub) -> None:
    p = sub.add_parser(
        "score",
        help="score image-text candidates into a Zarr run store (resumable)",
        description="Score every candidate: CLIP embeddings, CLIP cosine and CLIPScore, round-trip SSIM, "
        "size and format, into a Zarr run store. Run the same command again to resume a killed job.",
    )
    p.add_argument(
        "--input",
        dest="inputs",
        nargs="+",
        help="tar shards (brace patterns, URLs), image folders "
        "with a captions file, or Parquet/JSONL/CSV manifests",
    )
    p.add_argument("--store", help="run store path or fsspec URL")
    p.add_argument("--config", help="TOML file of settings (field names of engine.score.ScoreConfig)")
    p.add_argument("--clip-model", help="open_clip model name (default ViT-L-14)")
    p.add_argument(
        "--clip-pretrained", help="open_clip pretrained tag (from the local hub cache) or checkpoint file"
    )
    p.add_argument("--clip-config", help="JSON open_clip model config (registered under its file name)")
    p.add_argument(
        "--clip-random-init", action="store_true", default=None, help="random weights (benchmarks)"
    )
    p.add_argument(
        "--scorer",
        action="append",
        metavar="NAME=FILE.safetensors",
        help="an extra MLP scorer on the embeddings, stored as column NAME (repeatable)",
    )
    p.add_argument("--decoder", choices=("auto", "dali", "pil"))
    p.add_argument("--batch-size", type=int)
    p.add_argument("--shard-rows", type=int, help="rows per work unit and Zarr shard")
    add_executor_arguments(p)
    p.set_defaults(func=_run_score)


def _run_score(args) -> int:
    from engine.score.job import ScoreConfig, score

    scorers = dict(_name_equals_path(s) for s in args.scorer) if args.scorer else None
    cfg = ScoreConfig.from_toml(
        args.config,
        inputs=args.inputs,
        store=args.store,
        clip_model=args.clip_model,
        clip_pretrained=args.clip_pretrained,
        clip_config=args.clip_config,
        clip_random_init=args.clip_random_init,
        scorers=scorers,
        decoder=args.decoder,
        batch_size=args.batch_size,
        shard_rows=args.shard_rows,
        **executor_arguments(args),
    )
    summary = score(cfg)
    print(summary.text())
    return 0


def _name_equals_path(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise SystemExit(f"pixsift score: --scorer takes NAME=FILE.safetensors, got {value!r}")
    return name, path


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="print a run store's schema, counts and score statistics")
    p.add_argument("store", help="run store path or fsspec URL")
    p.set_defaults(func=_run_inspect)


def _run_inspect(args) -> int:
    from engine.store.inspect import inspect

    print(inspect(args.store))
    return 0


def _add_export(sub) -> None:
    from engine.export.run import DEFAULT_SHARD_SIZE, FORMATS, IMAGE_MODES

    p = sub.add_parser(
        "export",
        help="write a selection's kept candidates as training data",
        description="Write the kept candidates of a selection as WebDataset shards, Parquet, JSONL in the "
        "ShareGPT-4o-Image layout, or a Hugging Face datasets layout, with manifest.json (counts, SHA-256). "
        "Exits 1 when a kept candidate could not be exported; the manifest lists it with the reason.",
    )
    p.add_argument("store", help="run store path or fsspec URL")
    p.add_argument("--selection", required=True, help="name of the selection in the store")
    p.add_argument("--to", required=True, help="export folder (created; a previous export there is replaced)")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument(
        "--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="samples per shard, file or image folder"
    )
    p.add_argument(
        "--images", choices=IMAGE_MODES, default="bytes", help="parquet: image bytes in the file, or paths"
    )
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from engine.export.run import export

    summary = export(
        args.store, args.selection, args.to, args.format, shard_size=args.shard_size, images=args.images
    )
    print(summary.text())
    return 1 if summary.errors else 0


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report of a selection: score histograms, funnel, thumbnails near the cut",
        description="Write report.html (self-contained: opens from disk, images embedded) and its PNG plots.",
    )
    p.add_argument("store", help="run store path or fsspec URL")
    p.add_argument("--selection", required=True, help="name of the selection in the store")
    p.add_argument("--out", help="folder for report.html and the plots (default: <store>-report-<selection>)")
    p.set_defaults(func=_run_report)


def _run_report(args) -> int:
    from engine.report.page import write_report

    print(write_report(args.store, args.selection, args.out))
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the kernels on a folder of captioned photographs (the bundled samples)"
    )
    p.add_argument("samples", help="folder with captions.jsonl (key, image, caption per line)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from engine.cli.demo import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
