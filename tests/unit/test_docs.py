"""The README's error table is generated from the catalogue; they must not drift."""

from __future__ import annotations

from pathlib import Path

from payments_admin.error_docs import markdown_table


def test_readme_error_table_matches_the_catalogue() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("<!-- error-codes:start -->") + len("<!-- error-codes:start -->")
    end = readme.index("<!-- error-codes:end -->")
    assert readme[start:end].strip() == markdown_table()
