"""The result of bench/speed.py: one row per comparison, and its Markdown tables."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

MB = 1024 * 1024
HEADER = [
    "operation",
    "size",
    "bare command",
    "lumidb median s",
    "bare median s",
    "ratio of medians",
    "pair ratios min / median / max",
    "client CPU s, lumidb / bare",
    "goal",
]


@dataclass
class Row:
    """One comparison: lumidb's times beside the bare command's, pair by pair."""

    operation: str
    size: str
    bare_label: str
    goal: str
    limit: float | None = None  # the goal as a ratio (or seconds, when absolute)
    absolute: bool = False  # the goal is on lumidb's median in seconds, not the ratio
    lumidb: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    lumidb_cpu: list[float] = field(default_factory=list)  # user+sys of the client processes
    bare_cpu: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.lumidb, self.bare, strict=False) if b > 0]

    def cells(self) -> list[str]:
        lumidb, bare = statistics.median(self.lumidb), statistics.median(self.bare)
        ratios = self.ratios
        spread = f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}"
        verdict = self.goal
        if self.limit is not None:
            value = lumidb if self.absolute else lumidb / bare
            verdict += ": met" if value <= self.limit else ": **missed**"
        return [
            self.operation,
            self.size,
            self.bare_label,
            f"{lumidb:.3f}",
            f"{bare:.3f}",
            f"{lumidb / bare:.2f}",
            spread,
            f"{statistics.median(self.lumidb_cpu):.2f} / {statistics.median(self.bare_cpu):.2f}",
            verdict,
        ]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numbers: range) -> str:
    """A Markdown table; the columns in ``numbers`` are right-aligned."""
    rule = "".join(" ---: |" if i in numbers else " --- |" for i in range(len(header)))
    lines = ["| " + " | ".join(header) + " |", "|" + rule]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def curve_table(points: list[tuple[int, Row]]) -> str:
    cells = []
    for size, row in points:
        lumidb, bare = statistics.median(row.lumidb), statistics.median(row.bare)
        cells.append(
            [
                f"{size / MB:.0f}",
                f"{lumidb:.2f}",
                f"{lumidb / (size / MB) * 100:.3f}",
                f"{bare:.2f}",
                f"{bare / (size / MB) * 100:.3f}",
                f"{lumidb / bare:.2f}",
            ]
        )
    header = [
        "database MiB",
        "lumidb backup s",
        "lumidb s per 100 MiB",
        "bare s",
        "bare s per 100 MiB",
        "ratio",
    ]
    return table(header, cells, range(len(header)))
