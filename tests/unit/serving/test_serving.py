"""The serving domain: routing document, answer agreement, label drift, serving-log figures, step verdicts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from flywheel.serving.compare import agree, agreement, label_of
from flywheel.serving.drift import FileTail, js_divergence, record_label
from flywheel.serving.observe import served_lines, stats_for
from flywheel.serving.routing import Route, RoutingDoc, read_routing, rollback_model, write_routing
from flywheel.serving.steps import Limits, judge


def call(name: str, **args: object) -> dict[str, object]:
    return {"tool_calls": [{"function": {"name": name, "arguments": json.dumps(args)}}]}


def test_route_draws_split_traffic_by_weight() -> None:
    r = Route(workload_id="w", incumbent="a", candidate="b", candidate_weight=25, step="canary")
    served = [r.served_model(i / 100) for i in range(100)]
    assert served.count("b") == 25 and served.count("a") == 75
    assert r.primary == "a"
    full = r.model_copy(update={"candidate_weight": 100, "step": "full"})
    assert full.primary == "b" and {full.served_model(i / 10) for i in range(10)} == {"b"}
    assert Route(workload_id="w", incumbent="a").served_model(0.0) == "a"


def test_a_rollout_returns_to_what_serves_now_or_to_the_model_the_candidate_replaced() -> None:
    assert rollback_model(None, "cand", "prod") == "prod"
    assert rollback_model(None, "cand", None) is None
    settled = Route(workload_id="w", incumbent="old", candidate="cand", candidate_weight=100, step="full")
    assert rollback_model(settled, "next", "prod") == "cand"  # a new model replaces the one that serves
    assert rollback_model(settled, "cand", "prod") == "old"  # the same promotion again: re-checked against "old"
    canary = Route(workload_id="w", incumbent="old", candidate="cand", candidate_weight=25, step="canary")
    assert rollback_model(canary, "cand", "prod") == "old"
    rolled_back = Route(workload_id="w", incumbent="old", candidate="cand", step="rolled_back")
    assert rollback_model(rolled_back, "cand", "prod") == "old"
    only = Route(workload_id="w", incumbent="cand")
    assert rollback_model(only, "cand", "prod") == "cand"  # plan_rollout: nothing to roll out


def test_routing_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "routing.json"
    assert read_routing(path) == RoutingDoc()
    doc = RoutingDoc(routes={"w": Route(workload_id="w", incumbent="a")})
    write_routing(path, doc)
    assert read_routing(path) == doc
    assert [p.name for p in path.parent.iterdir()] == ["routing.json"]  # no temporary file left


def test_agreement_by_metric() -> None:
    assert agree("tool_calling", call("f", x=1), call("f", x=1))
    assert not agree("tool_calling", call("f", x=1), call("f", x=2))
    assert not agree("tool_calling", call("f"), {"content": "text"})
    assert agree("classification", {"content": "[[sports]]"}, {"content": "it is [[sports]]"})
    assert not agree("classification", {"content": "[[sports]]"}, {"content": "[[tech]]"})
    assert agree("generic", {"content": "the order ships today"}, {"content": "The order ships today!"})
    assert not agree("generic", {"content": "the order ships today"}, {"content": "Sorry, I cannot help."})
    assert agreement("generic", []) is None
    pairs = [({"content": "a b"}, {"content": "a b"}), ({"content": "a b"}, {"content": "x y"})]
    assert agreement("generic", pairs) == 0.5
    assert label_of(call("lookup")) == "lookup" and label_of({"content": "plain"}) is None


def test_js_divergence_is_zero_for_same_shape_and_one_for_disjoint() -> None:
    assert js_divergence({"a": 10, "b": 10}, {"a": 1, "b": 1}) == pytest.approx(0.0)
    assert js_divergence({"a": 5}, {"b": 5}) == pytest.approx(1.0)
    assert 0 < js_divergence({"a": 9, "b": 1}, {"a": 1, "b": 9}) < 1
    assert js_divergence({}, {"a": 1}) == 0.0


def record(workload: str, tool: str) -> dict[str, object]:
    return {"workload_id": workload, "response": {"choices": [{"message": call(tool)}]}}


def test_file_tail_counts_complete_appended_lines_of_its_workload(tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    tail = FileTail(str(path), "w")
    assert tail.read() == 0  # no file yet
    path.write_text("".join(json.dumps(record(w, t)) + "\n" for w, t in [("w", "a"), ("x", "a"), ("w", "b")]))
    assert tail.read() == 2 and tail.new_labels == {"a": 1, "b": 1}
    with path.open("a") as f:
        f.write("not json\n" + json.dumps(record("w", "a")) + "\n" + json.dumps(record("w", "c"))[:10])
    assert tail.read() == 1 and tail.new_records == 3  # the unfinished line waits for its newline
    with path.open("a") as f:
        f.write(json.dumps(record("w", "c"))[10:] + "\n")
    assert tail.read() == 1 and tail.new_labels["c"] == 1
    path.write_text(json.dumps(record("w", "z")) + "\n")  # replaced by a shorter file: read from the start
    assert tail.read() == 1 and tail.new_labels["z"] == 1
    assert record_label({"response": {"choices": [{"message": {"content": "hi"}}]}}) == "(text)"


def test_serving_log_figures(tmp_path: Path) -> None:
    now = time.time()
    lines = [
        {"ts": now - 100, "workload_id": "w", "served_model": "b", "role": "candidate", "ok": False},
        *[
            {"ts": now + i, "workload_id": "w", "served_model": "b", "role": "candidate", "ok": True, "latency_ms": i}
            for i in range(1, 21)
        ],
        {"ts": now, "workload_id": "w", "served_model": "b", "role": "candidate", "ok": False, "error": "APIError"},
        {"ts": now, "workload_id": "w", "served_model": "a", "role": "incumbent", "ok": True, "latency_ms": 500},
    ]
    (tmp_path / "w.serving.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"ts": 1')
    got = served_lines(str(tmp_path), "w", now)
    stats = stats_for(got, "b")
    assert (stats.requests, stats.errors, stats.p95_ms) == (21, 1, 19)
    assert stats.error_rate == pytest.approx(1 / 21)
    assert stats_for(got, "a").p95_ms == 500


def test_verdicts_name_the_limit_broken() -> None:
    limits = Limits(min_agreement=0.8, max_error_rate=0.05, max_p95_ms=200, min_requests=10)
    from flywheel.serving.observe import StepStats

    ok = judge(StepStats(20, 0, 100.0), 0.9, 8, limits)
    assert ok.ok and ok.reason is None
    bad = judge(StepStats(20, 2, 300.0), 0.5, 8, limits)
    assert not bad.ok
    assert "error rate 10.0% (2/20) > 5.0%" in str(bad.reason)
    assert "p95 latency 300 ms > 200 ms" in str(bad.reason)
    assert "agreement with the incumbent 0.500 on 8 request(s) < 0.8" in str(bad.reason)
    assert "only 3 candidate request(s) observed, 10 needed" in str(judge(StepStats(3, 0, 1.0), 1.0, 3, limits).reason)
    assert "no answer could be compared" in str(judge(None, None, 0, limits).reason)
