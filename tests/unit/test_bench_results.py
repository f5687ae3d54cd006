"""bench/run.py gathers every benchmark's own files into bench/results.md and .json."""

from __future__ import annotations

import json

from bench.run import BENCHMARKS, gather


def test_gather_puts_each_benchmark_under_its_name(tmp_path):
    (tmp_path / "converge.md").write_text("# Converge benchmark\n\n| a | b |\n")
    (tmp_path / "converge.json").write_text(json.dumps([{"workers": 1}]))
    (tmp_path / "side_by_side.md").write_text("# Side by side\n\nfigures\n")
    (tmp_path / "side_by_side.json").write_text(json.dumps({"first": []}))
    gather(tmp_path)
    text = (tmp_path / "results.md").read_text()
    assert text.startswith("# Benchmarks (bench/run.py)")
    assert "## converge (`bench/converge.py`, written " in text and "| a | b |" in text
    assert "# Converge benchmark" not in text  # its title became a section
    assert "## cuda_switch\n\nNot run yet." in text
    raw = json.loads((tmp_path / "results.json").read_text())
    assert raw == {"side_by_side": {"first": []}, "converge": [{"workers": 1}]}
    assert set(raw) < set(BENCHMARKS)
