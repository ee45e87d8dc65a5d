"""The one kind of error a user can fix: it names the input and the problem, on one line.

Every command prints it as `pixsift <command>: <input>: <problem>[; <what to do>]` and exits 2 (the
traceback only with `--debug`). Library code raises these for bad paths, settings, specs and models;
they also subclass the built-in error a Python caller would expect (ValueError, FileNotFoundError,
...), so `except ValueError` keeps working.
"""

from __future__ import annotations


class UserError(Exception):
    """`input: problem[; hint]` as one line."""

    def __init__(self, input: str, problem: str, hint: str = ""):
        self.input, self.problem, self.hint = str(input), str(problem), str(hint)
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.input}: {self.problem}" if self.input else self.problem
        return f"{text}; {self.hint}" if self.hint else text

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
