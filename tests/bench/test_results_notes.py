"""bench/RESULTS.md: hand-written dated notes survive the next `bench.compare` run."""

from __future__ import annotations

from pathlib import Path

from bench.compare import NOTES_BEGIN, NOTES_END, update_results


def test_results_keep_the_notes(tmp_path: Path) -> None:
    """Updating the results keeps the notes block, after the sizes."""
    path = tmp_path / "RESULTS.md"
    update_results(path, {5000: ["## 5,000 old"]})
    path.write_text(
        path.read_text() + f"\n{NOTES_BEGIN}\n## 2026-12-02 before/after\n{NOTES_END}\n"
    )
    update_results(path, {5000: ["## 5,000 new"], 500: ["## 500 new"]})
    text = path.read_text()
    assert "## 2026-12-02 before/after" in text
    assert "5,000 old" not in text
    assert text.index("## 5,000 new") < text.index("## 2026-12-02 before/after")
