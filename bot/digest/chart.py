"""The digest's chart: seats with access vs seats used, per product and for the top teams.

Drawn with matplotlib's object API on an explicit Agg canvas, never pyplot: pyplot would pick a
GUI backend from the environment (``MPLBACKEND``, a display) and keeps global figure state, while a
``Figure`` on ``FigureCanvasAgg`` renders to PNG bytes in memory on any headless server, from any
thread. matplotlib is imported on first use, so commands that draw nothing do not pay for it.

Team names come from BrowserStack: matplotlib would read ``$...$`` in them as mathtext (and fail
on a malformed one), so every ``$`` is escaped as its documentation says (``\\$``), which, unlike
the ``text.parse_math`` setting, touches no global state.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from bot.digest.rules import Digest, TeamSeats, period_text

__all__ = ["ChartData", "SeatBar", "chart_data", "draw_chart", "seat_chart"]

TOP_TEAMS = 10
_LABEL_CHARS = 28
_HELD_COLOUR = "#c9d6e8"
_USED_COLOUR = "#2f6db5"


@dataclass(frozen=True, slots=True)
class SeatBar:
    """One row of the chart: seats with access and seats used."""

    label: str
    seats: int
    used: int


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the chart shows: a title, a bar per product, a bar per top team (most idle first)."""

    title: str
    products: tuple[SeatBar, ...]
    teams: tuple[SeatBar, ...]


def _label(text: str | None, *, missing: str) -> str:
    text = " ".join(text.split()) if text else ""
    if not text:
        return missing
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _team_bar(team: TeamSeats) -> SeatBar:
    return SeatBar(_label(team.name, missing="(no team)"), team.seats, team.used)


def chart_data(digest: Digest, *, top_teams: int = TOP_TEAMS) -> ChartData | None:
    """The bars to draw; None when nobody holds a seat (an empty chart says nothing)."""
    products = tuple(SeatBar(s.product.label, s.seats, s.used) for s in digest.seats if s.seats)
    if not products:
        return None
    # A team's own digest has one team: its product bars already say everything.
    teams = digest.team_seats if len(digest.team_seats) > 1 else ()
    title = "Seats with access vs used"
    if digest.team:
        title += f": {_label(digest.team, missing='(no name)')}"
    title += f", {period_text(digest.start, digest.end)}"
    return ChartData(title=title, products=products, teams=tuple(map(_team_bar, teams[:top_teams])))


def _plain(text: str) -> str:
    """Text that matplotlib shows as typed: no ``$`` starts mathtext."""
    return text.replace("$", r"\$")


def draw_chart(data: ChartData, *, dpi: int = 100) -> bytes:
    """Render ``data`` as a PNG image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    panels = [("Per product", data.products)]
    if data.teams:
        panels.append(("Teams with the most idle seats", data.teams))
    rows = max(len(bars) for _, bars in panels)
    # Margins in inches, worked out here: matplotlib's automatic layouts measure every text
    # twice and took half of the drawing time.
    # The left of each panel holds labels of up to _LABEL_CHARS, its right the "n of m used".
    top, bottom, height = 0.75, 0.5, 0.42 * rows + 0.2
    panel_width, plot_width, right = 6.5, 3.2, 1.0
    size = (panel_width * len(panels), top + height + bottom)
    figure = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(figure)
    figure.suptitle(_plain(data.title), fontsize=12, y=1 - 0.12 / size[1], va="top")
    for index, (heading, bars) in enumerate(panels):
        left = (index + 1) * panel_width - plot_width - right
        ax = figure.add_axes(
            (left / size[0], bottom / size[1], plot_width / size[0], height / size[1])
        )
        # Top to bottom in the order given: barh draws its first bar at the bottom.
        positions = range(len(bars) - 1, -1, -1)
        ax.barh(
            [p + 0.2 for p in positions],
            [b.seats for b in bars],
            height=0.4,
            color=_HELD_COLOUR,
            label="with access",
        )
        ax.barh(
            [p - 0.2 for p in positions],
            [b.used for b in bars],
            height=0.4,
            color=_USED_COLOUR,
            label="used",
        )
        ax.set_yticks(list(positions), labels=[_plain(b.label) for b in bars], fontsize=9)
        ax.set_title(_plain(heading), fontsize=10, loc="left")
        ax.set_xlabel("seats")
        # Seats come whole, and thousands need their separator to stay apart.
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.spines[["top", "right"]].set_visible(False)
        for position, bar in zip(positions, bars, strict=True):
            ax.annotate(
                f"{bar.used:,} of {bar.seats:,} used",
                (bar.seats, position + 0.2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                annotation_clip=False,
            )
        if index == 0:
            # Above the first panel, level with its title: clear of bars and of the main title.
            ax.legend(loc="lower right", bbox_to_anchor=(1, 1), fontsize=8, frameon=False, ncols=2)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


def seat_chart(digest: Digest, *, top_teams: int = TOP_TEAMS) -> bytes | None:
    """The digest's chart as PNG bytes; None when there is nothing to draw."""
    data = chart_data(digest, top_teams=top_teams)
    return None if data is None else draw_chart(data)
