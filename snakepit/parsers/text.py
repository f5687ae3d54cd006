"""Text helpers every parser shares."""

from __future__ import annotations

from collections.abc import Iterable


def split_lines(text: str | Iterable[str]) -> list[str]:
    """The lines of ``text``: pyinfra hands facts a list of lines; files and tests a text."""
    return text.splitlines() if isinstance(text, str) else list(text)
