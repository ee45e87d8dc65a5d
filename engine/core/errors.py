"""The one kind of error a user can fix: it names the input and the problem, on one line.

Every command prints it as `pixsift <command>: <input>: <problem>[; <what to do>]` and exits 2 (the
traceback only with `--debug`). Library code raises these for bad paths, settings, specs and models;
they also subclass the built-in error a Python caller would expect (ValueError, FileNotFoundError,
...), so `except ValueError` keeps working.
"""

from __future__ import annotations

import errno
import re

from pixsift.engine.core.terminal import printable
from pixsift.kernels.optional import EXTRAS, MissingDependency, extra_of

INPUT_CHARS, PROBLEM_CHARS = 200, 2000


class UserError(Exception):
    """`input: problem[; hint]` as one line."""

    def __init__(self, input: str, problem: str, hint: str = ""):
        self.input, self.problem, self.hint = str(input), str(problem), str(hint)
        super().__init__(self.line())

    def line(self) -> str:
        """One line, whatever the input holds: control characters escaped, the input cut to
        INPUT_CHARS characters and the rest to PROBLEM_CHARS each."""
        input = printable(self.input, INPUT_CHARS)
        problem, hint = printable(self.problem, PROBLEM_CHARS), printable(self.hint, PROBLEM_CHARS)
        text = f"{input}: {problem}" if input else problem
        return f"{text}; {hint}" if hint else text

    def __str__(self) -> str:
        return self.line()

    def __reduce__(self):
        # Pickled as its parts (a worker process or Ray actor hands it to the driver), whatever the
        # subclass's own constructor takes.
        return _rebuild, (type(self), self.__dict__)


def _rebuild(cls: type[UserError], state: dict) -> UserError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error.line())
    return error


class BadInput(UserError, ValueError):
    """An input (a setting, a spec, a file's content) that is not what it must be."""


class NotFound(UserError, FileNotFoundError):
    """A path, store, selection or model that does not exist."""


class Exists(UserError, FileExistsError):
    """Something that is in the way and is not ours to replace."""


class Missing(UserError, KeyError):
    """A named thing (a selection, a column) that is not there. KeyError, whose str() would quote the
    message, prints it plain."""


# What the machine refuses (a full disk, a read-only or forbidden folder): one line, as a UserError.
_MACHINE_ERRORS = {
    errno.ENOSPC: ("no space left on the device", "free some space and run the same command again"),
    errno.EDQUOT: ("the disk quota is used up", "free some space and run the same command again"),
    errno.EROFS: ("is on a read-only file system", "write to another path"),
    errno.EACCES: ("permission denied", "use a path you may write to, or change its permissions"),
    errno.EPERM: ("operation not permitted", "use a path you may write to"),
}


def machine_error(error: OSError) -> UserError | None:
    """The one-line error for an OSError the machine raised (disk full, read-only, permissions); None for
    any other, which is a bug to show whole."""
    if error.errno not in _MACHINE_ERRORS:
        return None
    problem, hint = _MACHINE_ERRORS[error.errno]
    return UserError(
        error.filename or "", problem, f"{hint}; a killed or failed job resumes where it stopped"
    )


def missing_package(error: ImportError) -> UserError | None:
    """The one-line error for an optional package that is not installed, naming the pixsift extra that
    installs it (kernels.optional.require names it itself; fsspec says which package a protocol needs, s3fs
    for s3://, aiohttp for https://); None for any other ImportError, which is a bug to show whole."""
    text = (str(error).strip().splitlines() or [""])[0]
    if isinstance(error, MissingDependency):
        return UserError("", text)
    if (error.name or "").startswith("pixsift") or "pixsift" in text:
        return None
    named = [p for p in EXTRAS if re.search(rf"(?<![\w.]){re.escape(p)}(?![\w.])", text)]
    package = error.name or (named[-1] if named else None)
    extra = extra_of(package) if package else None
    install = f"install it with: pip install 'pixsift[{extra}]'" if extra else "install it and run again"
    if error.name:
        return UserError("", f"needs the Python package '{error.name}', which is not installed here", install)
    return UserError("", text, install) if "install" in text.lower() else None
