"""The HTML report read back with the standard library's parser, the way a browser sees it."""

from __future__ import annotations

from html.parser import HTMLParser

SECTIONS = ("verdict", "decision", "gates", "locks", "latency", "lint", "details")


class ReportPage(HTMLParser):
    """Sections in document order with their text and tags, the banner's verdict word, every chart
    bar's id and every SVG text, the "not measured" lines and the flagged rows of each section, and
    the tags that were parsed (an escaped tag is text, not a tag)."""

    def __init__(self, page: str):
        super().__init__()
        self.sections: list[str] = []
        self.section_text: dict[str, str] = {}
        self.section_tags: dict[str, set[str]] = {}
        self.tags: set[str] = set()
        self.bars: list[str] = []
        self.svg_texts: list[str] = []
        self.not_measured: dict[str, list[str]] = {}
        self.flagged_rows: dict[str, list[str]] = {}  # section -> text of each flagged row
        self.text: list[str] = []
        self.word = ""
        self._open: list[str] = []  # what the data being read belongs to
        self._section = ""
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if attrs.get("id") in SECTIONS:
            self._section = attrs["id"]
            self.sections.append(self._section)
        self.section_tags.setdefault(self._section, set()).add(tag)
        if tag == "g" and (attrs.get("id") or "").startswith("bar--"):
            self.bars.append(attrs["id"])
        classes = (attrs.get("class") or "").split()
        role = ("word" if "word" in classes else "none" if "none" in classes else "svgtext" if tag == "text"
                else "flag" if tag == "tr" and "flag" in classes else None)
        if tag in ("div", "p", "text", "tr"):
            self._open.append(role)
            if role == "none":
                self.not_measured.setdefault(self._section, []).append("")
            if role == "flag":
                self.flagged_rows.setdefault(self._section, []).append("")

    def handle_endtag(self, tag):
        if tag in ("header", "section"):  # the sections are not nested
            self._section = ""
        if tag in ("div", "p", "text", "tr") and self._open:
            self._open.pop()

    def handle_data(self, data):
        self.text.append(data)
        self.section_text[self._section] = self.section_text.get(self._section, "") + data
        role = self._open[-1] if self._open else None
        if "flag" in self._open:
            self.flagged_rows[self._section][-1] += data
        if role == "word":
            self.word += data.strip()
        elif role == "none":
            self.not_measured[self._section][-1] += data
        elif role == "svgtext":
            self.svg_texts.append(data.strip())

    @property
    def body(self) -> str:
        return "".join(self.text)
