"""utils/tables.py: the plain-text table and the one interval formatter."""

from utils.tables import format_table, interval


def test_interval_formats_each_number_alike():
    d = {"mean": 0.78249, "lo": 0.7491, "hi": 0.8153}
    assert interval(d) == f"{d['mean']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"
    assert interval({"mean": 12.4, "lo": -3.0, "hi": 20.6}, "+.0f") == "+12 [-3, +21]"


def test_format_table_pads_columns():
    text = format_table({"title": "T", "columns": ["a", "bb"], "rows": [["xyz", 1]]})
    lines = text.splitlines()
    assert lines[0] == "T" and lines[1].startswith("a  ") and len(lines[2]) == len(lines[1])
