"""The README's error-code table, rendered from ``errors.CATALOGUE`` (the one source)."""

from __future__ import annotations

from chalicelib.errors import CATALOGUE


def markdown_table() -> str:
    """One row per error code: HTTP status, type, code, message."""
    rows = ["| HTTP | type | code | message |", "| --- | --- | --- | --- |"]
    for spec in sorted(CATALOGUE.values(), key=lambda s: (s.status, s.code)):
        rows.append(f"| {spec.status} | `{spec.type}` | `{spec.code}` | {spec.message} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
