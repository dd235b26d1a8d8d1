"""What a page's error summary links to, for the tests of every module's forms: each problem in
the shared summary (`_error_summary.html`) is a link to an element of the same page that takes
the focus (a control, or an element with a tabindex), and that element names its own message."""

from __future__ import annotations

from html.parser import HTMLParser

FOCUSABLE = {"input", "select", "textarea", "button"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: dict[str, tuple[str, dict[str, str]]] = {}
        self.items: list[str | None] = []
        self._summary_depth = 0
        self._in_item = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "id" in found:
            self.elements[found["id"]] = (tag, found)
        if self._summary_depth:
            if tag == "div":
                self._summary_depth += 1
            elif tag == "li":
                self.items.append(None)
                self._in_item = True
            elif tag == "a" and self._in_item and self.items[-1] is None:
                self.items[-1] = found.get("href", "")
        elif tag == "div" and found.get("id") == "error-summary":
            self._summary_depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self._summary_depth and tag == "div":
            self._summary_depth -= 1
        if tag == "li":
            self._in_item = False


def summary_targets(html: str) -> list[str]:
    """The ids the summary's problems link to, in order. A problem without a link fails: every
    problem names the control it is about."""
    page = _Page()
    page.feed(html)
    assert page.items, "the page shows no error summary with problems"
    unlinked = [n for n, href in enumerate(page.items) if not href]
    assert not unlinked, f"problems {unlinked} of the summary link to nothing"
    targets = [href[1:] for href in page.items if href]
    for target in targets:
        assert target in page.elements, f"the summary links to #{target}, which is not on the page"
        tag, attrs = page.elements[target]
        assert (tag in FOCUSABLE and attrs.get("type") != "hidden") or "tabindex" in attrs, (
            f"the summary links to #{target}, a <{tag}> that cannot take the focus"
        )
    return targets


def described_by(html: str, target: str) -> list[str]:
    """The ids `target` names in its aria-describedby, each checked to be on the page."""
    page = _Page()
    page.feed(html)
    ids = page.elements[target][1].get("aria-describedby", "").split()
    missing = [i for i in ids if i not in page.elements]
    assert not missing, f"#{target} is described by {missing}, which are not on the page"
    return ids
