from __future__ import annotations

import math

from flywheel.emulator.nim_logic import (
    RecordIndex,
    ServedModel,
    answer,
    correct_probability,
    embed,
    model_size_b,
    similarity_1_10,
    tool_calls_match,
)

from .records import ICL_MARKER, LABELS, classification_record, generic_record, tool_record, with_icl

SMALL = ServedModel("meta/llama-3.2-1b-instruct", "meta/llama-3.2-1b-instruct")
MID = ServedModel("meta/llama-3.2-3b-instruct", "meta/llama-3.2-3b-instruct")
BIG = ServedModel("meta/llama-3.1-8b-instruct", "meta/llama-3.1-8b-instruct")
ADAPTER = ServedModel("ns/customized-meta-llama-3.2-1b-instruct@cust-X", "meta/llama-3.2-1b-instruct", adapter=True)


def test_model_size_is_parsed_from_the_name() -> None:
    assert model_size_b("meta/llama-3.2-1b-instruct") == 1
    assert model_size_b("meta/llama-3.3-70b-instruct") == 70
    assert model_size_b("nvidia/nemotron-nano-llama-3.1-8b") == 8
    assert model_size_b("acme/tiny") is None


def test_probability_grows_with_size_icl_and_customization() -> None:
    ps = [correct_probability(m, icl=False) for m in (SMALL, MID, BIG)]
    assert ps == sorted(ps) and len(set(ps)) == 3
    assert correct_probability(SMALL, icl=True) > correct_probability(SMALL, icl=False)
    assert correct_probability(ADAPTER, icl=False) > correct_probability(SMALL, icl=True)
    assert correct_probability(ServedModel("x/y-70b", "x/y-70b"), icl=True) <= 0.97


def _correct(model: ServedModel, records: list[dict], index: RecordIndex, icl: bool = False) -> set[int]:
    ok = set()
    for i, rec in enumerate(records):
        msgs = with_icl(rec)["request"]["messages"] if icl else rec["request"]["messages"]
        reply = answer(model, msgs, rec["request"].get("tools"), index, seed=3, icl_marker=ICL_MARKER)
        truth = rec["response"]["choices"][0]["message"]
        if truth.get("tool_calls"):
            ok_i = tool_calls_match(truth["tool_calls"], reply.get("tool_calls") or [], args=True)
        else:
            ok_i = reply["content"] == truth["content"]
        if ok_i:
            ok.add(i)
    return ok


def test_better_variants_answer_a_superset_of_items_correctly() -> None:
    records = [tool_record(i) for i in range(200)]
    index = RecordIndex()
    assert sum(index.add_record(r) for r in records) == 200
    base, icl, custom, mid = (
        _correct(SMALL, records, index),
        _correct(SMALL, records, index, icl=True),
        _correct(ADAPTER, records, index),
        _correct(MID, records, index),
    )
    assert base <= icl <= custom and base <= mid
    assert 0.3 < len(base) / 200 < 0.6 and len(custom) / 200 > 0.6


def test_wrong_answers_are_plausible() -> None:
    records = [classification_record(i) for i in range(100)] + [generic_record(i) for i in range(50)]
    index = RecordIndex()
    for r in records:
        index.add_record(r)
    for rec in records:
        reply = answer(SMALL, rec["request"]["messages"], None, index, seed=3, icl_marker=ICL_MARKER)
        if "[[" in rec["response"]["choices"][0]["message"]["content"]:
            assert reply["content"].strip("[]") in LABELS  # a wrong label is still a known label
        else:
            assert reply["content"]


def test_unknown_prompt_with_tools_still_calls_a_tool() -> None:
    rec = tool_record(1)
    reply = answer(
        SMALL, [{"role": "user", "content": "never seen"}], rec["request"]["tools"], RecordIndex(), 0, ICL_MARKER
    )
    assert reply["tool_calls"][0]["function"]["name"] == "get_order_status"
    assert isinstance(reply["tool_calls"][0]["function"]["arguments"], str)


def test_similarity_scale() -> None:
    assert similarity_1_10("the cat sat", "the cat sat") == 10
    assert similarity_1_10("the cat sat", "") == 1
    assert similarity_1_10("the cat sat on the mat", "dogs bark loudly") == 1
    assert 1 < similarity_1_10("the cat sat on the mat", "the cat sat") < 10


def test_embeddings_are_deterministic_normalised_and_meaningful() -> None:
    a, a2 = embed("reset my password please", 2048, "m"), embed("reset my password please", 2048, "m")
    b, c = embed("please reset my password", 2048, "m"), embed("weather in paris tomorrow", 2048, "m")
    assert a == a2 and len(a) == 2048
    assert math.isclose(sum(v * v for v in a), 1.0, rel_tol=1e-9)

    def cos(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cos(a, b) > 0.9 > 0.2 > cos(a, c)
