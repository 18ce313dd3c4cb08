"""The slice an eval row belongs to, read from the row as the dataset holds it (both backends echo it as
``item``): the tool name(s) the reference calls for tool calling, the reference's class for classification."""

from __future__ import annotations

from flywheel.jsontypes import JsonObject, JsonValue


def label(text: JsonValue) -> str:
    """The bracketed label (``[[label]]``) of a text, lower-cased, or the whole trimmed text without one
    (what the classification metrics compare)."""
    t = "" if text is None else str(text)
    if "[[" in t and "]]" in t.split("[[")[1]:
        return t.split("[[")[1].split("]]")[0].strip().lower()
    return t.strip().lower()


def reference_message(item: JsonObject) -> JsonObject:
    response = item.get("response")
    choices = response.get("choices") if isinstance(response, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    return message if isinstance(message, dict) else {}


def tool_names(message: JsonObject) -> list[str]:
    calls = message.get("tool_calls")
    names = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            names.append(name)
    return names


def row_slice(workload_type: str, item: JsonObject) -> str | None:
    """``a+b`` (the reference's tool names, in call order; ``none`` without a call) for tool calling, the
    reference class for classification, None for the rest."""
    message = reference_message(item)
    if workload_type == "tool_calling":
        return "+".join(tool_names(message)) or "none"
    if workload_type == "classification":
        return label(message.get("content"))
    return None
