"""The history curve's section of docs/benchmarks.md: targets judged, spliced in place."""

from __future__ import annotations

from bench.history import HEADING, Point, history_section, splice_section


def test_targets_are_judged_on_the_largest_history() -> None:
    section = history_section(
        [Point(1_000_000, 1_000_000, 10.0), Point(30_000_000, 1_000_000, 16.0)], "make bench"
    )
    assert "| 30,000,000 | 1,000,000 | 16.0 | 1.60 |" in section
    assert "| dbt build <= 20 s with >= 20M rows of history | 16.0 s | yes |" in section
    assert "| within 1.5x of the smallest history | 1.60x | **no** |" in section


def test_the_section_replaces_its_old_self_and_keeps_the_rest() -> None:
    old = f"# Benchmarks\n\n## Targets\n\nx\n\n{HEADING}\n\nold curve\n\n## Notes\n\nkept\n"
    page = splice_section(old, f"{HEADING}\n\nnew curve\n")
    assert "old curve" not in page and "new curve" in page
    assert page.startswith("# Benchmarks\n\n## Targets\n\nx\n\n")
    assert page.endswith("## Notes\n\nkept\n")
    assert splice_section("# Benchmarks\n", f"{HEADING}\n") == f"# Benchmarks\n\n{HEADING}\n"
