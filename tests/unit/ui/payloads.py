"""Script-injection payloads and an HTML reader that finds what a payload would have created.

Shared by the unit tests and the browser suite (tests/integration/airflow/test_page_security.py)."""

from __future__ import annotations

from html.parser import HTMLParser

PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "'><svg onload=alert(1)>",
    "</title><svg onload=alert(1)>",
    "</script><script>alert(1)</script>",
    "javascript:alert(1)",
    '" autofocus onfocus="alert(1)',
    "<iframe srcdoc='<script>alert(1)</script>'>",
    "{{7*7}}<b>bold</b>",
)
# tags the pages themselves use; anything else in a parsed page came from a value
PAGE_TAGS = {
    "html", "head", "meta", "title", "link", "style", "body", "header", "h1", "h2", "h3", "small", "main", "section",
    "form", "input", "label", "select", "option", "div", "p", "b", "figure", "figcaption", "canvas", "table",
    "thead", "tbody", "tr", "th", "td", "a", "script",
}  # fmt: skip


class Scan(HTMLParser):
    """Every tag, every attribute and the text of a page, as a browser's tokenizer sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    def problems(self) -> list[str]:
        """What a payload made of the page: foreign tags, event handlers, script URLs, executable scripts."""
        out = []
        for tag, attrs in self.tags:
            if tag not in PAGE_TAGS:
                out.append(f"tag <{tag}>")
            for name, value in attrs.items():
                if name.startswith("on") or name in ("autofocus", "srcdoc"):
                    out.append(f"attribute {name} on <{tag}>")
                if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript"):
                    out.append(f"{name}={value!r} on <{tag}>")
            if tag == "script" and attrs.get("type") not in (None, "application/json"):
                out.append(f"script of type {attrs.get('type')!r}")
        return out
