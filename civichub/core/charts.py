"""Bar charts drawn on the server: a list of labelled values becomes the bars of an SVG
(`core/_bars.html`), readable without JavaScript, with a title for screen readers and always
beside a table of the same figures. Shared by every module's figures pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BAR_PITCH = 28


@dataclass(frozen=True)
class Chart:
    bars: list[dict[str, object]]

    @property
    def height(self) -> int:
        return len(self.bars) * BAR_PITCH + 4


def bar_chart(items: Sequence[tuple[str, float | int | None]], width: int = 300) -> Chart:
    """Bars for (label, value) pairs, scaled to the largest value; a missing value is 0."""
    values = [value or 0 for _label, value in items]
    top = max(values, default=0) or 1
    return Chart(
        [
            {
                "label": label,
                "value": int(value) if isinstance(value, float) and value.is_integer() else value,
                "width": max(round(width * value / top), 0),
                "y": i * BAR_PITCH,
            }
            for i, ((label, _raw), value) in enumerate(zip(items, values, strict=True))
        ]
    )


COLUMN_AREA = (40, 8, 512, 150)  # left, top, right, bottom of the plotting area in the viewBox


@dataclass(frozen=True)
class ColumnChart:
    """Columns over time: time runs along x, the value up y from 0 to `top` in `unit`."""

    columns: list[dict[str, object]]
    top: int | float
    unit: str
    height: int = 190

    @property
    def axis(self) -> dict[str, int]:
        left, top, right, bottom = COLUMN_AREA
        return {"left": left, "top": top, "right": right, "bottom": bottom, "label_y": bottom + 16}


def column_chart(items: Sequence[tuple[str, float | int | None]], unit: str = "") -> ColumnChart:
    """Columns for (period label, value) pairs in time order; a missing value is drawn as 0, so
    an empty period shows as a gap, not as a skipped one. About six x labels are written."""
    left, top, right, bottom = COLUMN_AREA
    values = [value or 0 for _label, value in items]
    highest = max(values, default=0) or 1
    pitch = (right - left) / max(len(items), 1)
    every = max(1, -(-len(items) // 6))
    columns: list[dict[str, object]] = []
    for i, ((label, _raw), value) in enumerate(zip(items, values, strict=True)):
        height = (bottom - top) * value / highest
        columns.append(
            {
                "label": label,
                "value": int(value) if isinstance(value, float) and value.is_integer() else value,
                "x": round(left + i * pitch + pitch * 0.15, 2),
                "width": round(pitch * 0.7, 2),
                "y": round(bottom - height, 2),
                "height": round(height, 2),
                "centre": round(left + (i + 0.5) * pitch, 2),
                "show_label": i % every == 0,
            }
        )
    top_value = int(highest) if isinstance(highest, float) and highest.is_integer() else highest
    return ColumnChart(columns=columns, top=top_value, unit=unit)
