"""Dedup and detection rules, split edge cases, determinism, no leakage, ICL budget, stats invariant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.config import IclConfig, SplitConfig
from flywheel.datasets import ICL_HEADER, BuildOptions, DatasetError, build_datasets
from flywheel.datasets.keys import dedup_key
from flywheel.datasets.types import detect
from flywheel.records.validation import validate
from tests.unit.datasets.factory import chat, labelled, tool, write


def opts(eval_size=4, limit=None, wtype="auto", icl=None, seed=1, min_train=2, context=8192, **split):
    return BuildOptions(
        "w",
        None,
        wtype,
        SplitConfig(
            eval_size=eval_size,
            limit=limit,
            random_seed=seed,
            min_total_records=1,
            min_train_records=min_train,
            **split,
        ),
        icl or IclConfig(max_examples=2),
        context,
    )


def build(tmp_path: Path, rows, **kw):
    src = write(tmp_path / "in.jsonl", rows)
    return build_datasets(src, opts(**kw), tmp_path / "out")


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


# ------------------------------------------------------------------------------------------ dedup
def test_dedup_ignores_case_and_whitespace_and_keeps_the_newest(tmp_path):
    rows = [chat("Where is  my order?", answer="old", ts=1), chat(" where is my ORDER? ", answer="new", ts=2)]
    r = build(tmp_path, [*rows, *[chat(f"q{i}", ts=10 + i) for i in range(12)]], eval_size=2)
    assert r.stats["duplicates"] == 1
    kept = [x for name in ("eval", "train", "val") for x in lines(r.files[name]) if "order" in json.dumps(x).lower()]
    assert len(kept) == 1 and "new" in json.dumps(kept[0])


def test_dedup_key_includes_system_prompt_and_tools():
    a = validate(chat("same question", system="You are A"))
    b = validate(chat("same question", system="You are B"))
    assert dedup_key(a) != dedup_key(b)
    t = validate(tool("same question"))
    assert dedup_key(t) != dedup_key(validate(chat("same question")))


def test_all_duplicates_fail_with_a_clear_message(tmp_path):
    with pytest.raises(DatasetError, match=r"need at least 7 usable records .* got 1 .*19 duplicates"):
        build(tmp_path, [chat("same", ts=i) for i in range(20)])


# ------------------------------------------------------------------------------------------ detection
def test_detection_rules():
    tools = [validate(tool(f"q{i}")) for i in range(3)]
    labels = [validate(labelled(f"h{i}", "Earnings")) for i in range(3)]
    plain = [validate(chat(f"q{i}")) for i in range(3)]
    assert detect(tools) == "tool_calling"
    assert detect(labels) == "classification"
    assert detect(plain) == "generic"
    assert detect(plain, explicit="classification") == "classification"


def test_classification_records_without_label_are_filtered_and_counted(tmp_path):
    rows = [labelled(f"h{i}", "Earnings" if i % 2 else "Dividends", ts=i) for i in range(20)]
    rows.append(chat("no label here", answer="probably earnings", ts=99))
    r = build(tmp_path, rows, eval_size=4)
    assert r.workload_type == "classification"
    assert r.stats["filtered_by_reason"] == {"classification_label_missing": 1}
    s = r.stats
    assert s["read"] == s["used"] + sum(s["invalid"].values()) + s["duplicates"] + s["filtered"]


# ------------------------------------------------------------------------------------------ split
def test_val_is_stratified_and_rare_classes_are_pooled(tmp_path):
    rows = [tool(f"q{i}", name=["lookup", "refund"][i % 2], ts=i) for i in range(60)]
    rows.append(tool("only one chat", name="chat", ts=100))
    r = build(tmp_path, rows, eval_size=10, val_ratio=0.2)
    assert r.stats["stratified"] == {"eval": True, "val": True}
    assert r.stats["pooled_classes"] == ["chat"]
    cls = r.stats["classes"]
    assert cls["lookup"]["val"] == cls["refund"]["val"] and cls["lookup"]["eval"] == cls["refund"]["eval"]


def test_one_record_per_class_does_not_crash(tmp_path):
    rows = [tool(f"q{i}", name=["lookup", "refund", "chat"][i % 3], ts=i) for i in range(3)]
    rows += [tool(f"x{i}", name="lookup", ts=10 + i) for i in range(10)]
    r = build(tmp_path, rows, eval_size=3)
    assert sum(r.stats["sizes"].values()) == 13


def test_single_class_and_generic_split_unstratified(tmp_path):
    r = build(tmp_path, [chat(f"q{i}", ts=i) for i in range(15)], eval_size=3)
    assert r.workload_type == "generic" and r.stats["stratified"] == {"eval": False, "val": False}
    assert r.stats["sizes"]["eval"] == 3


def test_exactly_eval_size_plus_one_fails_clearly(tmp_path):
    with pytest.raises(
        DatasetError,
        match=r"need at least 7 usable records \(eval_size 4 \+ 2 train \+ 1 "
        r"validation\), got 5",
    ):
        build(tmp_path, [chat(f"q{i}", ts=i) for i in range(5)], eval_size=4)


def test_same_seed_same_bytes_and_no_record_in_two_splits(tmp_path):
    rows = [tool(f"question {i}", name=["lookup", "refund", "chat"][i % 3], ts=i) for i in range(80)]
    for name in "abc":
        (tmp_path / name).mkdir()
    a = build(tmp_path / "a", rows, eval_size=9, seed=7)
    b = build(tmp_path / "b", rows, eval_size=9, seed=7)
    c = build(tmp_path / "c", rows, eval_size=9, seed=8)
    for name in ("eval", "train", "val", "icl"):
        assert a.files[name].read_bytes() == b.files[name].read_bytes()
    assert a.files["eval"].read_bytes() != c.files["eval"].read_bytes()
    users = {
        name: {
            json.dumps([m for m in x.get("messages", x.get("request", {}).get("messages", [])) if m["role"] == "user"])
            for x in lines(a.files[name])
        }
        for name in ("eval", "train", "val")
    }
    assert not (users["eval"] & users["train"]) and not (users["eval"] & users["val"])
    assert not (users["train"] & users["val"])


def test_limit_keeps_the_newest_records(tmp_path):
    rows = [chat(f"q{i}", ts=i) for i in range(40)]
    r = build(tmp_path, rows, eval_size=3, limit=20)
    assert r.stats["used"] == 20
    stamps = [x["timestamp"] for x in lines(r.files["eval"])]
    assert min(stamps) >= 20


# ------------------------------------------------------------------------------------------ formats + ICL
def test_formats_for_evaluator_and_customizer(tmp_path):
    r = build(tmp_path, [tool(f"q{i}", args={"n": i}, ts=i) for i in range(20)], eval_size=3)
    ev = lines(r.files["eval"])[0]
    assert isinstance(ev["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], dict)
    tr = lines(r.files["train"])[0]
    assert tr["tools"] and tr["messages"][-1]["role"] == "assistant" and tr["messages"][-1]["content"] == ""
    assert isinstance(tr["messages"][-1]["tool_calls"][0]["function"]["arguments"], dict)


def test_icl_examples_injected_and_within_budget(tmp_path):
    rows = [tool(f"q{i} " + "x" * 40, name=["lookup", "refund"][i % 2], ts=i) for i in range(30)]
    r = build(tmp_path, rows, eval_size=4, icl=IclConfig(max_examples=3, min_examples=1, reserved_tokens=0))
    icl_rows = lines(r.files["icl"])
    system = icl_rows[0]["request"]["messages"][0]["content"]
    assert ICL_HEADER in system and system.count("Example ") == 3
    ev_users = {x["request"]["messages"][-1]["content"] for x in lines(r.files["eval"])}
    for row in icl_rows:  # never the eval record itself as an example
        sys_text = row["request"]["messages"][0]["content"]
        assert row["request"]["messages"][-1]["content"] not in sys_text.split(ICL_HEADER)[1]
    assert ev_users
    # a window that fits exactly one example: with min_examples 2 no record gets any
    from flywheel.datasets.icl import estimate_tokens, prompt_tokens, render_example

    rec = validate(rows[0])
    window = prompt_tokens(rec) + estimate_tokens(render_example(rec)) + 2
    (tmp_path / "s").mkdir()
    small = build(
        tmp_path / "s",
        rows,
        eval_size=4,
        context=window,
        icl=IclConfig(max_examples=3, min_examples=2, reserved_tokens=0),
    )
    assert small.stats["icl"]["with_examples"] == 0
    (tmp_path / "t").mkdir()
    one = build(
        tmp_path / "t",
        rows,
        eval_size=4,
        context=window,
        icl=IclConfig(max_examples=3, min_examples=1, reserved_tokens=0),
    )
    assert one.stats["icl"]["mean_examples"] == 1.0


def test_semantic_selection_uses_the_embedder(tmp_path):
    class Embedder:
        calls = 0

        def embed(self, texts):
            Embedder.calls += 1
            return [[1.0, float("refund" in t)] for t in texts]

    rows = [tool(f"{['lookup', 'refund'][i % 2]} {i}", name=["lookup", "refund"][i % 2], ts=i) for i in range(30)]
    src = write(tmp_path / "in.jsonl", rows)
    r = build_datasets(
        src,
        opts(eval_size=4, icl=IclConfig(selection="semantic_similarity", max_examples=2, relevance_ratio=1.0)),
        tmp_path / "o",
        Embedder(),
    )
    assert Embedder.calls == 2 and r.stats["icl"]["with_examples"] == 4
    for row in lines(r.files["icl"]):
        query = row["request"]["messages"][-1]["content"]
        examples = row["request"]["messages"][0]["content"].split(ICL_HEADER)[1]
        assert ("refund" in query) == ("refund" in examples.split("Example 1:")[1].split("Example 2")[0])


def test_line_order_of_equal_timestamps_does_not_change_the_datasets(tmp_path):
    rows = [tool(f"question {i}", name=["lookup", "refund"][i % 2], ts=i // 10) for i in range(60)]
    # the same question at the same (newest) time with another answer: one canonical winner either way
    rows += [chat("x", answer="same time, other answer", ts=5) | {"request": tool("  QUESTION 53")["request"]}]
    for name in ("fwd", "rev"):
        (tmp_path / name).mkdir()
    a = build(tmp_path / "fwd", rows, eval_size=6, limit=35)
    b = build(tmp_path / "rev", rows[::-1], eval_size=6, limit=35)
    assert a.stats == b.stats and a.stats["used"] == 35 and a.stats["duplicates"] == 1
    for name in ("eval", "train", "val", "icl"):
        assert a.files[name].read_bytes() == b.files[name].read_bytes(), name


def test_semantic_selection_streamed_in_small_batches_picks_the_same_examples(tmp_path, monkeypatch):
    from flywheel.datasets import icl as icl_module

    class Embedder:
        def embed(self, texts):  # equal vectors for some texts: ties between train records are exercised too
            return [[1.0, float(len(t) % 3), float("refund" in t)] for t in texts]

    rows = [
        tool(f"{['lookup', 'refund'][i % 3 == 0]} {i}", name=["lookup", "refund"][i % 3 == 0], ts=i) for i in range(90)
    ]
    src = write(tmp_path / "in.jsonl", rows)
    cfg = IclConfig(selection="semantic_similarity", max_examples=3, relevance_ratio=0.5)
    whole = build_datasets(src, opts(eval_size=8, icl=cfg), tmp_path / "whole", Embedder())
    monkeypatch.setattr(icl_module, "EMBED_BATCH", 7)
    batched = build_datasets(src, opts(eval_size=8, icl=cfg), tmp_path / "batched", Embedder())
    assert whole.stats["icl"]["with_examples"] == 8
    assert batched.files["icl"].read_bytes() == whole.files["icl"].read_bytes()


def test_train_lines_leave_offered_tools_out_unless_the_workload_is_tool_calling(tmp_path):
    """The scan encodes train lines as a tool-calling workload's; another type re-encodes them without tools."""
    rows = [tool(f"question {i}", name=["lookup", "refund"][i % 2], ts=i) for i in range(40)]
    src = write(tmp_path / "in.jsonl", rows)
    as_tools = build_datasets(src, opts(eval_size=4, wtype="tool_calling"), tmp_path / "tools")
    as_generic = build_datasets(src, opts(eval_size=4, wtype="generic"), tmp_path / "generic")

    def by_question(result):  # the split differs (generic is not stratified): compare record by record
        rows = lines(result.files["train"]) + lines(result.files["val"])
        return {line["messages"][1]["content"]: line for line in rows}

    with_tools, without = by_question(as_tools), by_question(as_generic)
    shared = with_tools.keys() & without.keys()
    assert len(shared) >= 30 and all(line["tools"] for line in with_tools.values())
    assert all(without[q] == {"messages": with_tools[q]["messages"]} for q in shared)
