"""One-line messages: shortened key lists, first lines of foreign errors, errors prefixed with their source."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


def short(items: list[str], n: int = 6) -> str:
    more = f", ... (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def first_line(e: BaseException | None, skip: str = "") -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if skip and lines and lines[0].startswith(skip):
        lines[0] = lines[0][len(skip):].lstrip(" .") or (lines[1] if len(lines) > 1 else "")
    return lines[0] if lines else type(e).__name__


@contextmanager
def prefix_errors(source: str) -> Iterator[None]:
    """Re-raise any ValueError from inside the block as ``"{source}: {error}"``."""
    try:
        yield
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
