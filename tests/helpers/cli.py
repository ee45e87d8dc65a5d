"""Running the `pixsift` command in the test process."""

from __future__ import annotations

from pixsift.engine.cli import main


def user_error(capsys, argv: list[str]) -> str:
    """The one line `pixsift argv` prints for a user error, checking that it exits 2, prints nothing to
    stdout and no traceback: before it, stderr may hold only the job's own lines (progress, the decoder
    in use), each labelled with the stage."""
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    *before, line = captured.err.splitlines()
    assert not captured.out and line.startswith(f"pixsift {argv[0]}: "), captured
    assert all(b.startswith(f"{argv[0]}: ") for b in before), captured
    return line
