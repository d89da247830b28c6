"""The digest's chart: the bars it shows, a real PNG, and no display or GUI backend needed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from bot.digest.chart import ChartData, SeatBar, chart_data, draw_chart, seat_chart
from bot.digest.rules import Digest, build_digest
from tests.digest import END, EXCLUDE, IDLE, LIVE, NOW, START, many_users, org, user

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def digest(**kwargs: Any) -> Digest:
    return build_digest(org(), now=NOW, start=START, end=END, exclude=EXCLUDE, **kwargs)


def image(png: bytes) -> Image.Image:
    assert png.startswith(PNG)
    picture = Image.open(io.BytesIO(png))
    picture.load()
    return picture


def test_chart_data_per_product_and_team() -> None:
    data = chart_data(digest())
    assert data is not None
    assert data.title == "Seats with access vs used, 24 Oct – 23 Nov 2026"
    assert data.products == (
        SeatBar("Live", 3, 1),
        SeatBar("Automate", 2, 1),
        SeatBar("App Live", 2, 2),
        SeatBar("App Automate", 1, 0),
    )
    assert data.teams == (
        SeatBar("Mobile QA", 3, 1),
        SeatBar("Web", 2, 1),
        SeatBar("(no team)", 1, 0),
        SeatBar("Acme Inc. (Org)", 2, 2),
    )


def test_chart_data_keeps_the_teams_with_most_idle_seats() -> None:
    data = chart_data(build_digest(many_users(2_000, teams=40), now=NOW, start=START, end=END))
    assert data is not None
    assert len(data.teams) == 10
    idle = [bar.seats - bar.used for bar in data.teams]
    assert idle == sorted(idle, reverse=True)


def test_a_teams_chart_has_no_team_panel() -> None:
    data = chart_data(digest(team="Mobile QA"))
    assert data is not None
    assert data.title.startswith("Seats with access vs used: Mobile QA, ")
    assert data.teams == ()
    assert data.products == (SeatBar("Live", 2, 0), SeatBar("Automate", 1, 1))


def test_nothing_to_draw_without_seats() -> None:
    assert chart_data(build_digest([], now=NOW, start=START, end=END)) is None
    assert seat_chart(build_digest([], now=NOW, start=START, end=END)) is None


def test_seat_chart_is_a_png() -> None:
    png = seat_chart(digest())
    assert png is not None
    picture = image(png)
    width, height = picture.size
    assert width > 600
    assert height > 200
    # Bars and text, not a blank canvas.
    assert len(picture.convert("RGB").getcolors(maxcolors=1 << 16) or ()) > 20


def test_labels_are_drawn_as_typed() -> None:
    # "$...$" is mathtext to matplotlib, and a malformed one would raise while drawing.
    hostile = r"$\frac{ <!channel> $$ \$ 50% 😀 " + "x" * 80
    data = ChartData(
        title=hostile, products=(SeatBar(hostile, 5, 1),), teams=(SeatBar(hostile, 2, 0),) * 2
    )
    image(draw_chart(data))


def test_long_and_missing_team_names_are_shortened() -> None:
    records = [
        user("A", "a@x.io", "T" * 100, access=(LIVE,), data={LIVE: IDLE}),
        user("B", "b@x.io", None, access=(LIVE,), data={LIVE: IDLE}),
    ]
    data = chart_data(build_digest(records, now=NOW, start=START, end=END))
    assert data is not None
    assert sorted(bar.label for bar in data.teams) == ["(no team)", "T" * 27 + "…"]


def test_charts_drawn_in_parallel() -> None:
    # The scheduler's digests for several channels may draw at the same time.
    with ThreadPoolExecutor(max_workers=4) as pool:
        charts = list(pool.map(lambda _: seat_chart(digest()), range(4)))
    for png in charts:
        assert png is not None
        image(png)


def test_works_without_a_display_whatever_the_backend_setting() -> None:
    # A GUI backend asked for by the environment, and no display: pyplot would fail here.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "TkAgg"
    script = textwrap.dedent(
        """
        import sys
        from bot.digest.chart import ChartData, SeatBar, draw_chart

        png = draw_chart(ChartData("t", (SeatBar("Live", 3, 1),), (SeatBar("A", 1, 0),) * 2))
        assert "matplotlib.pyplot" not in sys.modules
        sys.stdout.buffer.write(png[:8])
        """
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == PNG
