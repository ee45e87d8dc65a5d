"""`pixsift tokenize`: the command-line side of trainer.tokenize."""

from __future__ import annotations

from engine.executors.config import add_executor_arguments, executor_arguments


def add_tokenize(sub) -> None:
    p = sub.add_parser(
        "tokenize",
        help="tokenize a selection for Janus training into a Zarr token store (resumable)",
        description="Each kept row of the selection to its Janus prompt tokens and the VQ codes of its image "
        "(and, for edits, its source image as pixels and codes), in a Zarr token store that `pixsift train` "
        "reads. Run the same command again to resume a killed job.",
    )
    p.add_argument("store", help="run store path or fsspec URL")
    p.add_argument("--selection", required=True, help="name of the selection to tokenize")
    p.add_argument("--out", required=True, help="token store path or fsspec URL")
    p.add_argument("--model", required=True, help="local Janus-Pro checkpoint folder (transformers format)")
    p.add_argument(
        "--batch-size",
        type=int,
        help="rows per batch on the device; an edit row adds its source image (default 32)",
    )
    p.add_argument("--unit-rows", type=int, help="rows per work unit and Zarr shard (default 1024)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), help="VQ encoder dtype (float32)")
    add_executor_arguments(p)
    p.set_defaults(func=_run_tokenize)


def _run_tokenize(args) -> int:
    from engine.store.run_store import ConfigMismatch
    from trainer.tokenize import TokenizeConfig, tokenize

    given = {"batch_size": args.batch_size, "unit_rows": args.unit_rows, "dtype": args.dtype}
    try:
        cfg = TokenizeConfig(
            store=args.store,
            selection=args.selection,
            out=args.out,
            model=args.model,
            **{k: v for k, v in given.items() if v is not None},
            **executor_arguments(args),
        )
        summary = tokenize(cfg)
    except (ConfigMismatch, FileNotFoundError, FileExistsError, KeyError) as e:
        raise SystemExit(f"pixsift tokenize: {e.args[0] if isinstance(e, KeyError) else e}") from e
    print(summary.text())
    return 0
