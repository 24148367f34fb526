"""query/trace.py: the span tree, the waterfall layout and the initial expansion, on hand-made rows.

Rows carry what trace_records.sql returns; times are microseconds. The data shapes are the ones real
clients send (OTLP.md items 19-22): orphans, shared span ids, cycles, clock skew.
"""

import random

import pytest

from query.trace import (
    FUTURE_SLACK_US,
    arrange,
    build_tree,
    initial_open,
    layout_waterfall,
    parse_row_id,
    row_id,
)

T0 = 1_800_000_000_000_000  # 2027, microseconds


def row(span_id: str, parent: str | None = None, start: int = 0, end: int | None = 10, kind: str = "span", **extra) -> dict:
    span_id = span_id.rjust(16, "0")
    return {
        "span_id": span_id, "parent_span_id": parent.rjust(16, "0") if parent else None, "kind": kind,
        "start_us": T0 + start, "end_us": None if end is None else T0 + end, "dup_index": 0,
        "created_us": T0 + 1_000_000, "span_name": f"name {span_id[-3:].lstrip('0')}", "message": None,
        "level": 9, "otel_status_code": "UNSET", "is_exception": False, "service_name": "svc", **extra,
    }


def shape(nodes: list[dict]) -> list[tuple]:
    """(short span id, depth, parent position, end) of each node, in tree order."""
    return [(n["span_id"].lstrip("0"), n["depth"], n["parent"], n["end"]) for n in nodes]


def assert_well_formed(nodes: list[dict], count: int) -> None:
    assert len(nodes) == count
    for pos, node in enumerate(nodes):
        assert pos < node["end"] <= len(nodes)
        if node["parent"] >= 0:
            parent = nodes[node["parent"]]
            assert node["parent"] < pos < parent["end"] and node["end"] <= parent["end"]
            assert node["depth"] == parent["depth"] + 1
        else:
            assert node["depth"] == 0


def test_depth_first_order_with_children_by_start_time():
    rows = [
        row("1", start=0, end=100),
        row("3", "1", start=50, end=60),
        row("2", "1", start=10, end=40),
        row("4", "2", start=20, end=30),
        row("5", start=5, end=8),  # a second root
    ]
    nodes = build_tree(rows)
    assert shape(nodes) == [("1", 0, -1, 4), ("2", 1, 0, 3), ("4", 2, 1, 3), ("3", 1, 0, 4), ("5", 0, -1, 5)]
    assert [n["children"] for n in nodes] == [2, 1, 0, 0, 0]
    assert all(n["flags"] == [] for n in nodes)
    assert_well_formed(nodes, 5)


def test_children_arriving_before_their_parents_and_orphans_are_kept_as_marked_roots():
    rows = [
        row("2", "1", start=10),  # child listed before its parent
        row("1", start=0, end=100),
        row("7", "dead", start=20, end=50),  # its parent never arrived
        row("8", "7", start=30, end=40),  # hangs under the orphan
    ]
    nodes = build_tree(rows)
    assert shape(nodes) == [("1", 0, -1, 2), ("2", 1, 0, 2), ("7", 0, -1, 4), ("8", 1, 2, 4)]
    assert [n["flags"] for n in nodes] == [[], [], ["orphan"], []]


def test_two_rows_sharing_a_span_id_both_appear_and_children_pick_the_one_running_then():
    # Temporal after a worker crash: the same span id for two different spans (OTLP.md item 21).
    rows = [
        row("a", start=0, end=1000),
        row("b", "a", start=0, end=100, span_name="attempt 1"),
        row("b", "a", start=500, end=600, span_name="attempt 2", dup_index=1),
        row("c", "b", start=10, end=20),  # during attempt 1
        row("d", "b", start=550, end=560),  # during attempt 2
        row("e", "b", start=5000, end=5001),  # during neither: the first
    ]
    nodes = build_tree(rows)
    names = [(n["span_name"] if n["span_id"].endswith("b") else n["span_id"].lstrip("0"), n["depth"], n["row_id"][-3:]) for n in nodes]
    assert names == [
        ("a", 0, "00a"), ("attempt 1", 1, "00b"), ("c", 2, "00c"), ("e", 2, "00e"), ("attempt 2", 1, "b-1"), ("d", 2, "00d"),
    ]
    assert [n["flags"] for n in nodes if n["span_id"].endswith("b")] == [["dup"], ["dup"]]
    assert_well_formed(nodes, 6)
    assert build_tree(list(reversed(rows))) == nodes  # input order does not matter


def test_parent_cycles_and_self_parents_are_cut_without_losing_a_row():
    rows = [
        row("1", "3", start=0),  # 1 -> 3 -> 2 -> 1
        row("2", "1", start=1),
        row("3", "2", start=2),
        row("9", "9", start=5),  # its own parent
        row("5", start=3),
        row("6", "6", start=4),  # shares an id with the next row, and both claim it as parent
        row("6", "6", start=4, dup_index=1),
    ]
    nodes = build_tree(rows)
    assert_well_formed(nodes, 7)
    by_id = {(n["span_id"].lstrip("0"), n.get("dup_index")): n for n in nodes}
    # the earliest row of a cycle becomes its root
    assert (by_id["1", 0]["depth"], by_id["1", 0]["flags"]) == (0, ["cycle"])
    assert [by_id[k, 0]["depth"] for k in ("2", "3")] == [1, 2]
    assert (by_id["9", 0]["depth"], by_id["9", 0]["flags"]) == (0, ["cycle"])
    assert (by_id["6", 0]["depth"], by_id["6", 0]["flags"]) == (0, ["cycle", "dup"])
    assert (by_id["6", 1]["depth"], by_id["6", 1]["flags"]) == (1, ["dup"])


def test_a_chain_twenty_thousand_deep_does_not_recurse():
    rows = [row(format(i + 1, "x"), format(i, "x") if i else None, start=i, end=100_000 - i) for i in range(20_000)]
    nodes = build_tree(rows)
    assert nodes[-1]["depth"] == 19_999 and nodes[0]["end"] == 20_000
    assert_well_formed(nodes, 20_000)


def test_logs_hang_under_their_span_and_never_adopt_children_over_a_span():
    rows = [
        row("1", start=0, end=100),
        row("2", "1", start=10, end=10, kind="log"),
        # a log sharing the span's id (it should not happen; if it does, the span keeps the children)
        row("3", "1", start=20, end=90),
        row("3", "1", start=15, end=15, kind="log", dup_index=1),
        row("4", "3", start=30, end=40),
    ]
    nodes = build_tree(rows)
    assert [(n["span_id"].lstrip("0"), n["kind"], n["depth"]) for n in nodes] == [
        ("1", "span", 0), ("2", "log", 1), ("3", "log", 1), ("3", "span", 1), ("4", "span", 2),
    ]
    assert nodes[4]["parent"] == 3


def test_random_parent_links_never_loop_or_lose_a_row():
    generator = random.Random(7)
    for _ in range(200):
        ids = [format(generator.randrange(1, 30), "x") for _ in range(generator.randrange(1, 60))]
        rows = [
            row(span_id, generator.choice([None, "ff", *ids]), start=generator.randrange(0, 100), dup_index=k)
            for k, span_id in enumerate(ids)
        ]
        nodes = build_tree(rows)
        assert_well_formed(nodes, len(rows))
        assert sorted(n["row_id"] for n in nodes) == sorted(row_id(r["span_id"], r["dup_index"]) for r in rows)


def test_waterfall_offsets_widths_and_flags():
    rows = [
        row("1", start=0, end=1000),
        row("2", "1", start=250, end=750),
        row("3", "1", start=500, end=None, kind="pending_span"),  # still running
        row("4", "1", start=800, end=700),  # ends before it starts
        row("5", "1", start=-T0, end=100),  # start = 0: an unset clock
        row("6", "1", start=900, end=FUTURE_SLACK_US + 2_000_000),  # ends in the future
        row("7", "1", start=400, end=400, kind="log"),
    ]
    nodes = build_tree(rows)
    time = layout_waterfall(nodes)
    assert time == {"start_us": T0, "end_us": T0 + 1000, "duration_us": 1000}
    bars = {n["span_id"].lstrip("0"): (n["offset"], n["width"], n["flags"]) for n in nodes}
    assert bars == {
        "1": (0.0, 100.0, []),
        "2": (25.0, 50.0, []),
        "3": (50.0, 50.0, ["running"]),  # drawn to the end of the trace
        "4": (80.0, 0.0, ["negative"]),
        "5": (0.0, 10.0, ["skew"]),  # clamped to the trace's start
        "6": (90.0, 10.0, ["skew"]),  # clamped to the trace's end
        "7": (40.0, 0.0, []),
    }
    assert nodes[0]["start_offset_us"] == 0 and [n for n in nodes if n["span_id"].endswith("5")][0]["start_offset_us"] == -T0


def test_waterfall_of_one_pending_span_and_of_span_events():
    nodes = build_tree([row("1", start=0, end=None, kind="pending_span")])
    assert layout_waterfall(nodes)["duration_us"] == 0
    assert (nodes[0]["offset"], nodes[0]["width"], nodes[0]["flags"]) == (0.0, 0.0, ["running"])

    from datetime import datetime, timezone

    def iso(us: int) -> str:
        return datetime.fromtimestamp((T0 + us) / 1e6, tz=timezone.utc).isoformat()

    nodes = build_tree([row("1", start=0, end=200, event_names=["retry", "exception"], event_times=[iso(50), iso(150)])])
    layout_waterfall(nodes)
    assert nodes[0]["ticks"] == [[25.0, "retry"], [75.0, "exception"]]


def test_status_flags_and_summary():
    rows = [
        row("1", start=0, end=100, otel_status_code="OK"),
        row("2", "1", start=1, level=17),
        row("3", "1", start=2, otel_status_code="ERROR", level=17),
        row("4", "1", start=3, is_exception=True),
        row("5", "1", start=4, level=13),
        row("6", "gone", start=5, service_name="other"),
    ]
    nodes, summary = arrange(rows)
    assert [n["flags"] for n in nodes] == [["ok"], ["error"], ["error"], ["error"], ["warn"], ["orphan"]]
    assert {k: summary[k] for k in ("records", "spans", "logs", "errors", "orphans", "running", "depth", "services")} == {
        "records": 6, "spans": 6, "logs": 0, "errors": 3, "orphans": 1, "running": 0, "depth": 2, "services": ["svc", "other"],
    }
    assert summary["root_message"] == "name 1"


def test_initial_expansion_opens_everything_small_and_caps_what_is_large():
    small = build_tree([row("1"), row("2", "1"), row("3", "2")])
    initial_open(small, cap=10)
    assert [n["open"] for n in small] == [True, True, False]

    # one root with 30 children of 30 children each: root and as many children as fit in 100 rows
    rows = [row("1", start=0, end=10_000)]
    for a in range(30):
        rows.append(row(f"a{a:02d}", "1", start=1 + a * 300, end=300 + a * 300))
        rows += [row(f"b{a:02d}{b:02d}", f"a{a:02d}", start=2 + a * 300 + b, end=3 + a * 300 + b) for b in range(30)]
    nodes = build_tree(rows)
    initial_open(nodes, cap=100)
    shown = _visible(nodes)
    assert nodes[0]["open"] and 31 <= shown <= 100
    assert [n["open"] for n in nodes if n["depth"] == 1][:3] == [True, True, False]

    # a root with more children than the cap is still opened: a single collapsed row says nothing
    wide = build_tree([row("1")] + [row(f"c{i:04d}", "1", start=i) for i in range(300)])
    initial_open(wide, cap=50)
    assert wide[0]["open"] and _visible(wide) == 301


def _visible(nodes: list[dict]) -> int:
    shown, index = 0, 0
    while index < len(nodes):
        shown += 1
        index = index + 1 if nodes[index]["open"] else nodes[index]["end"]
    return shown


def test_row_ids_name_rows_sharing_a_span_id():
    assert row_id("00000000000000ab", 0) == "00000000000000ab"
    assert row_id("00000000000000ab", 2) == "00000000000000ab-2"
    assert parse_row_id("00000000000000AB-2") == ("00000000000000ab", 2)
    assert parse_row_id("00000000000000ab") == ("00000000000000ab", 0)
    assert parse_row_id("zz") is None and parse_row_id("00000000000000ab-") is None


def test_usage_badges_sum_each_subtree_and_count_each_call_once():
    rows = [
        row("1", start=0, end=100, span_name="invoke_agent a"),  # an agent run: no tokens of its own
        row("2", "1", start=1, end=20, input_tokens=100, output_tokens=10, cost_usd=0.002),
        row("3", "1", start=30, end=60),  # a tool
        row("4", "3", start=31, end=50, input_tokens=7, output_tokens=3, cost_usd=None),  # priced: unknown model
        row("5", "1", start=70, end=90, input_tokens=900, output_tokens=200, cost_usd=0.01),
        row("6", start=200, end=210),  # a second root without model calls
    ]
    nodes, summary = arrange(rows)
    usage = {n["span_id"].lstrip("0"): n["usage"] for n in nodes}
    assert usage["1"] == (1220, pytest.approx(0.012))
    assert usage["2"] == (110, pytest.approx(0.002))
    assert usage["3"] == (10, 0.0) and usage["4"] == (10, 0.0)
    assert usage["6"] is None
    assert (summary["model_calls"], summary["input_tokens"], summary["output_tokens"]) == (3, 1007, 213)
    assert summary["cost_usd"] == pytest.approx(0.012)
