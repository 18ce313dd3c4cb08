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
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from flywheel.datasets.keys import answer, last_user_text

ICL_HEADER = "Here are examples of how to respond:"


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> list[list[float]]: ...


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) + 4


def prompt_tokens(record: dict[str, Any]) -> int:
    msgs = record["request"]["messages"]
    tools = record["request"].get("tools")
    return sum(estimate_tokens(json.dumps(m.get("content"), ensure_ascii=False)) for m in msgs) + (
        estimate_tokens(json.dumps(tools)) if tools else 0
    )


def render_example(record: dict[str, Any]) -> str:
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


def inject(messages: list[dict[str, Any]], examples: list[str]) -> list[dict[str, Any]]:
    block = ICL_HEADER + "\n\n" + "\n\n".join(f"Example {i + 1}:\n{e}" for i, e in enumerate(examples))
    out = [dict(m) for m in messages]
    for m in out:
        if m["role"] == "system":
            m["content"] = f"{m.get('content') or ''}\n\n{block}".strip()
            return out
    return [{"role": "system", "content": block}, *out]


class IclSelector:
    def __init__(
        self,
        train: Sequence[dict[str, Any]],
        train_keys: Sequence[str],
        labels: Sequence[str | None],
        cfg: Any,
        context_length: int,
        seed: int,
        embedder: Embedder | None = None,
    ) -> None:
        self.cfg, self.seed = cfg, seed
        self.window = cfg.max_context_length or context_length
        self.rendered = [render_example(r) for r in train]
        self.cost = [estimate_tokens(t) for t in self.rendered]
        self.keys, self.labels = list(train_keys), [lab or "_" for lab in labels]
        self.order = self._uniform_order()
        self.embedder = embedder
        self.vectors: Any = None
        if cfg.selection == "semantic_similarity":
            if embedder is None:
                raise ValueError("icl.selection semantic_similarity needs an embedder (the embedding NIM)")
            self.vectors = self._normalised(embedder.embed([last_user_text(r) for r in train]))

    @staticmethod
    def _normalised(vectors: list[list[float]]) -> Any:
        import numpy as np

        m = np.asarray(vectors, dtype=np.float32)
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)

    def _uniform_order(self) -> list[int]:
        """Round-robin across classes (sorted names), seeded order within each class: balanced examples."""
        rng = random.Random(self.seed)
        by_class: dict[str, list[int]] = defaultdict(list)
        for i, lab in enumerate(self.labels):
            by_class[lab].append(i)
        queues = []
        for lab in sorted(by_class):
            q = by_class[lab][:]
            rng.shuffle(q)
            queues.append(q)
        order: list[int] = []
        while any(queues):
            for q in queues:
                if q:
                    order.append(q.pop(0))
        return order

    def budget(self, record: dict[str, Any]) -> int:
        return self.window - self.cfg.reserved_tokens - prompt_tokens(record)

    def candidates(self, query_vectors: Any, row: int) -> list[int]:
        if self.vectors is None:
            return self.order
        scores = self.vectors @ query_vectors[row]
        ranked = [int(i) for i in scores.argsort()[::-1][: max(50, 5 * self.cfg.max_examples)]]
        n_relevant = int(self.cfg.max_examples * self.cfg.relevance_ratio)
        picked, seen = ranked[:n_relevant], {self.labels[i] for i in ranked[:n_relevant]}
        for i in ranked[n_relevant:]:  # coverage: the best example of each class not yet represented
            if self.labels[i] not in seen:
                picked.append(i)
                seen.add(self.labels[i])
        return picked + [i for i in ranked if i not in picked]

    def select(self, record: dict[str, Any], key: str, candidates: list[int]) -> list[str]:
        left = self.budget(record)
        chosen: list[str] = []
        for i in candidates:
            if len(chosen) >= self.cfg.max_examples:
                break
            if self.keys[i] == key or self.cost[i] > left:
                continue  # never the record itself; a smaller example may still fit
            chosen.append(self.rendered[i])
            left -= self.cost[i]
        return chosen if len(chosen) >= self.cfg.min_examples else []

    def query_vectors(self, records: Sequence[dict[str, Any]]) -> Any:
        if self.vectors is None or self.embedder is None:
            return None
        return self._normalised(self.embedder.embed([last_user_text(r) for r in records]))
