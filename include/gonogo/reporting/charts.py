"""Charts for the report: plain numbers in, inline SVG text out (no files, no JavaScript).

matplotlib is imported inside the function: the DAG file is parsed often and never draws. The
figure is drawn without pyplot (no global state, no GUI backend). Text stays text in the SVG
(searchable, selectable, escaped by matplotlib's writer), and a fixed hash salt with no date
makes the same numbers give the same bytes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence

# One colour per series, in order: "before" grey, "after" blue, a third for a worst case.
_COLOURS = ("#9aa5b1", "#2f6db5", "#d9822b", "#6b4fa3")


def bar_id(chart_id: str, series: str, category: str) -> str:
    """The SVG id of one bar: which chart, which series, which category."""
    return "--".join(re.sub(r"[^A-Za-z0-9_-]+", "-", part) for part in ("bar", chart_id, series, category))


def grouped_bars(chart_id: str, categories: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
                 unit: str = "ms") -> str:
    """A horizontal grouped bar chart: one group per category, one bar per series, each bar
    labelled with its value. A log scale when the values span more than 20x (a 0.05 ms lookup
    and a 20 ms search both stay readable). None: nothing measured, shown as such."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    values = [v for column in series.values() for v in column if v is not None]
    log = bool(values) and min(values) > 0 and max(values) / min(values) > 20
    height = 0.22 * len(series) * len(categories) + 1.0
    with rc_context({"svg.hashsalt": chart_id, "svg.fonttype": "none", "font.size": 9}):
        fig = Figure(figsize=(9.6, height), layout="constrained")
        ax = fig.add_subplot()
        slot = 0.8 / len(series)
        for i, (name, column) in enumerate(series.items()):
            for j, (category, value) in enumerate(zip(categories, column)):
                y = j - 0.4 + slot * (i + 0.5)
                if value is None:
                    ax.text(0, y, " not measured", va="center", fontsize=7, color="#5b6670",
                            transform=ax.get_yaxis_transform())
                    continue
                [bar] = ax.barh(y, value, height=slot * 0.9, color=_COLOURS[i % len(_COLOURS)],
                                label=_plain(name) if j == 0 else None)
                bar.set_gid(bar_id(chart_id, name, category))
                ax.text(value, y, f" {value:.3g} {unit}", va="center", fontsize=7, color="#1d2329")
        if log:
            ax.set_xscale("log")
            ax.set_xlim(10 ** math.floor(math.log10(min(values))), max(values) * 4)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.01, not 10^-2
        else:
            ax.set_xlim(0, (max(values, default=1) or 1) * 1.25)
        ax.set_yticks(range(len(categories)), [_plain(c) for c in categories])
        ax.set_ylim(len(categories) - 0.5, -0.5)  # first category on top
        ax.set_xlabel(f"{unit}{' (log scale)' if log else ''}")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", color="#e3e6e9", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=len(series), frameon=False, fontsize=8)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg"):]  # inline in HTML: no XML declaration or DOCTYPE


def _plain(text: str) -> str:
    """A label as written: a '$' would start matplotlib's math mode."""
    return text.replace("$", r"\$")
