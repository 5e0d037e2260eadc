"""Generated blocks inside hand-written docs: ``<!-- name:start -->`` ... ``<!-- name:end -->``.

The prose around a block is written by hand; only what stands between its markers is
rewritten from the code or from measured figures.
"""

from __future__ import annotations

from collections.abc import Mapping


def fill(text: str, blocks: Mapping[str, str]) -> str:
    """``text`` with each block it holds replaced by ``blocks[name]`` (others untouched)."""
    for name, body in blocks.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start in text:
            head, _, rest = text.partition(start)
            tail = rest.partition(end)[2]
            text = f"{head}{start}\n{body.strip()}\n{end}{tail}"
    return text
