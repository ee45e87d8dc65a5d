"""Running the `pixsift` command in the test process."""

from __future__ import annotations

from engine.cli import main


def user_error(capsys, argv: list[str]) -> str:
    """The one line `pixsift argv` prints for a user error, checking that it exits 2, prints nothing to
    stdout and no traceback."""
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and not captured.out, captured
    return lines[0]
