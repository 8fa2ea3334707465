"""One error type for bad input: it always names the file, the field and what was expected.

The CLI prints it as a single line and exits with status 2; nothing half-written is left behind because
every writer in the package writes to a temporary path and renames it into place (``neurodyn.utils.atomic``).
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input: ``where`` (a file or a config path), ``field`` inside it, and what was ``expected``."""

    def __init__(self, where: str | Path, field: str, expected: str, *, got: object | None = None):
        self.where, self.field, self.expected, self.got = str(where), field, expected, got
        super().__init__(self.line())

    def line(self) -> str:
        got = "" if self.got is None else f" (got {self.got!r})"
        field = f": {self.field}" if self.field else ""
        return f"{self.where}{field}: expected {self.expected}{got}"
