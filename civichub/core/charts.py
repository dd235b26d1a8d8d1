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
