"""One-line block sparklines for watchlist rows."""

from __future__ import annotations

from collections.abc import Sequence

_BLOCKS = "▁▂▃▄▅▆▇█"
_FLAT = _BLOCKS[3]  # a flat series sits mid-height so it reads as "no move", not "no data"


def sparkline(values: Sequence[float], width: int) -> str:
    """Draw ``values`` as exactly ``width`` block characters, newest at the right.

    A longer series is averaged into ``width`` buckets; a shorter one is padded with spaces on
    the left so its last value still lines up with the right edge.
    """
    if width <= 0:
        return ""
    count = len(values)
    if count == 0:
        return " " * width
    if count > width:
        points = [
            sum(values[start:end]) / (end - start)
            for start, end in ((i * count // width, (i + 1) * count // width) for i in range(width))
        ]
    else:
        points = list(values)
    low = min(points)
    span = max(points) - low
    if span <= 0:
        bars = _FLAT * len(points)
    else:
        top = len(_BLOCKS) - 1
        bars = "".join(_BLOCKS[round((point - low) / span * top)] for point in points)
    return bars.rjust(width)
