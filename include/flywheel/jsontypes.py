"""JSON as the type checker sees it: open documents whose values must be narrowed before use.

For shapes we know, the code uses models (``flywheel.run.models``, the platform specs); these aliases are for
documents that are genuinely open (a platform's answer before it is read, a log record's request).
"""

from __future__ import annotations

from typing import TypeAlias

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
JsonObject: TypeAlias = dict[str, JsonValue]
