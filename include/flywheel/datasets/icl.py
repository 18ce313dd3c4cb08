"""In-context-learning example selection and injection.

Token estimate (documented, tokenizer-free): ``ceil(characters / 4) + 4`` per message — close to BPE
tokenizers on English text and conservative on JSON. Budget per eval record = the *target NIM's* context
length (or ``icl.max_context_length`` when set) − ``icl.reserved_tokens`` − the record's own prompt.
Examples are rendered as the user turn and the answer only (no repeated system prompts) and injected into
the system message after the line :data:`ICL_HEADER`. An eval record is never its own example.
"""

from __future__ import annotations

import json
import math
import random
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from flywheel.datasets.keys import answer, last_user_text
from flywheel.records.shape import Message, Record

ICL_HEADER = "Here are examples of how to respond:"


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> list[list[float]]: ...


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) + 4


def prompt_tokens(record: Record) -> int:
    msgs = record["request"]["messages"]
    tools = record["request"].get("tools")
    return sum(estimate_tokens(json.dumps(m.get("content"), ensure_ascii=False)) for m in msgs) + (
        estimate_tokens(json.dumps(tools)) if tools else 0
    )


def render_example(record: Record) -> str:
    a = answer(record)
    lines = [f"User: {last_user_text(record).strip()}"]
    if a.get("tool_calls"):
        for c in a["tool_calls"]:
            lines.append(
                f"Assistant calls {c['function']['name']} with "
                f"{json.dumps(c['function']['arguments'], sort_keys=True, ensure_ascii=False)}"
            )
    else:
        lines.append(f"Assistant: {str(a.get('content') or '').strip()}")
    return "\n".join(lines)


def inject(messages: list[Message], examples: list[str]) -> list[Message]:
    block = ICL_HEADER + "\n\n" + "\n\n".join(f"Example {i + 1}:\n{e}" for i, e in enumerate(examples))
    out: list[Message] = [m.copy() for m in messages]
    for m in out:
        if m["role"] == "system":
            m["content"] = f"{m.get('content') or ''}\n\n{block}".strip()
            return out
    return [{"role": "system", "content": block}, *out]


EMBED_BATCH = 4096  # train texts embedded (and scored) at a time: memory is one batch, not the train set


class IclSelector:
    """Picks examples among the train records without holding them: per train record only its id (spill
    offset), class code and (once looked at) its ICL cost are in memory; a candidate is rendered when first
    looked at, which for uniform selection is a few thousand records whatever the train size. Semantic
    selection streams the train texts through the embedder a batch at a time and keeps, per eval record, only
    its best-scoring candidates (score descending; equal scores: the later train record first)."""

    def __init__(
        self,
        ids: np.ndarray,
        label_codes: np.ndarray,
        label_names: Sequence[str],
        render: Callable[[int], str],
        cfg: Any,
        context_length: int,
        seed: int,
        embedder: Embedder | None = None,
        texts: Callable[[int, int], list[str]] | None = None,
        evals: Sequence[Record] = (),
    ) -> None:
        self.cfg, self.seed = cfg, seed
        self.window = cfg.max_context_length or context_length
        self.cost = np.full(len(ids), -1, dtype=np.int64)  # -1: not rendered yet
        self.ids = ids
        self.label_codes, self.label_names = label_codes, list(label_names)
        self._render = render
        self._rendered: dict[int, str] = {}
        self.order = self._uniform_order()
        self.nearest: np.ndarray | None = None
        if cfg.selection == "semantic_similarity":
            if embedder is None or texts is None:
                raise ValueError("icl.selection semantic_similarity needs an embedder (the embedding NIM)")
            self.nearest = self._nearest(embedder, texts, evals)

    @staticmethod
    def _normalised(vectors: list[list[float]]) -> Any:
        m = np.asarray(vectors, dtype=np.float32)
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)

    def _nearest(
        self, embedder: Embedder, texts: Callable[[int, int], list[str]], evals: Sequence[Record]
    ) -> np.ndarray:
        """Per eval record, the ``max(50, 5 * max_examples)`` train positions most similar to it (cosine)."""
        n, top = len(self.ids), max(50, 5 * self.cfg.max_examples)
        best_scores = np.zeros((len(evals), 0), dtype=np.float32)
        best = np.zeros((len(evals), 0), dtype=np.int64)
        if not len(evals):
            return best
        queries = self._normalised(embedder.embed([last_user_text(r) for r in evals]))
        for start in range(0, n, EMBED_BATCH):
            stop = min(n, start + EMBED_BATCH)
            vectors = self._normalised(embedder.embed(texts(start, stop)))
            scores = np.stack([vectors @ q for q in queries])  # one dot per (eval, train) pair, as before
            scores = np.concatenate([best_scores, scores], axis=1)
            positions = np.concatenate([best, np.broadcast_to(np.arange(start, stop), (len(evals), stop - start))], 1)
            ranked = np.lexsort((-positions, -scores), axis=1)[:, :top]
            best_scores = np.take_along_axis(scores, ranked, axis=1)
            best = np.take_along_axis(positions, ranked, axis=1)
        return best

    def _uniform_order(self) -> np.ndarray:
        """Round-robin across classes (sorted names), seeded order within each class: balanced examples."""
        rng = random.Random(self.seed)
        codes = self.label_codes
        by_code = np.argsort(codes, kind="stable").astype(np.int32)  # ascending train position within a class
        bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(self.label_names)))))
        queues = []
        for code in sorted(range(len(self.label_names)), key=lambda c: self.label_names[c]):
            q = array("i")
            q.frombytes(by_code[bounds[code] : bounds[code + 1]].tobytes())
            if not q:
                continue
            rng.shuffle(q)  # the same draws as shuffling a list of the same length
            queues.append(np.frombuffer(q, dtype=np.int32))
        del by_code
        order = np.empty(sum(len(q) for q in queues), dtype=np.int32)
        at = rank = 0
        for end in sorted({len(q) for q in queues}):  # ranks [rank, end): every queue at least `end` long takes part
            block = np.stack([q[rank:end] for q in queues if len(q) >= end], axis=1).ravel()
            order[at : at + len(block)] = block
            at, rank = at + len(block), end
        return order

    def label(self, i: int) -> str:
        return self.label_names[int(self.label_codes[i])]

    def rendered(self, i: int) -> str:
        if i not in self._rendered:
            self._rendered[i] = self._render(i)
            self.cost[i] = estimate_tokens(self._rendered[i])
        return self._rendered[i]

    def costs(self, idx: np.ndarray) -> np.ndarray:
        for i in idx[self.cost[idx] < 0].tolist():
            self.rendered(i)
        return self.cost[idx]

    def budget(self, record: Record) -> int:
        return self.window - self.cfg.reserved_tokens - prompt_tokens(record)

    def candidates(self, row: int) -> Sequence[int] | np.ndarray:
        if self.nearest is None:
            return self.order
        ranked = self.nearest[row].tolist()
        n_relevant = int(self.cfg.max_examples * self.cfg.relevance_ratio)
        picked, seen = ranked[:n_relevant], {self.label(i) for i in ranked[:n_relevant]}
        for i in ranked[n_relevant:]:  # coverage: the best example of each class not yet represented
            if self.label(i) not in seen:
                picked.append(i)
                seen.add(self.label(i))
        return picked + [i for i in ranked if i not in picked]

    def select(self, record: Record, own_id: int, candidates: Sequence[int] | np.ndarray) -> list[str]:
        left = self.budget(record)
        chosen: list[str] = []
        cost, ids = self.cost, self.ids
        if not isinstance(candidates, np.ndarray):
            self.costs(np.asarray(candidates, dtype=np.int64))
        for i in self._fitting(candidates, left):
            if len(chosen) >= self.cfg.max_examples:
                break
            c = int(cost[i])
            if c > left or int(ids[i]) == own_id:
                continue  # never the record itself; a smaller example may still fit
            chosen.append(self.rendered(int(i)))
            left -= c
        return chosen if len(chosen) >= self.cfg.min_examples else []

    def _fitting(self, candidates: Sequence[int] | np.ndarray, left: int) -> Iterator[int]:
        """The candidates in order, skipping (vectorised, a chunk at a time) those that can never fit."""
        if not isinstance(candidates, np.ndarray):
            yield from candidates
            return
        for start in range(0, len(candidates), 4096):
            chunk = candidates[start : start + 4096]
            yield from chunk[self.costs(chunk) <= left].tolist()
