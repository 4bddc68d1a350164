"""Dashboard, the home page: every broker's messages today and yesterday, Broker TOP 10
and the brokers' TPS over a day, Topic TOP 10 and one topic's in/out TPS over a day.

Nothing here calls a broker: the table shows the figures collector's latest collection
and the charts its history files (history.py), read through two JSON endpoints the page
polls every few seconds. A date without data is an empty chart.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from orbitmq.dashboard.collector import now_ms
from orbitmq.dashboard.figures import Snapshot
from orbitmq.dashboard.history import BROKER, DAY_FORMAT, TOPIC, day_of
from orbitmq.dashboard.pages.cluster import broker_row
from orbitmq.dashboard.pages.common import flash, render
from orbitmq.dashboard.pages.metrics import collector_of

TOP = 10
REFRESH_MS = 5000


def broker_rows(snapshot: Snapshot | None) -> list[dict[str, Any]]:
    """The broker table: produced today/yesterday and consumed today, from runtime info."""
    if snapshot is None:
        return []
    rows = []
    for b in snapshot.brokers:
        ref = b.ref
        row = broker_row(ref.cluster, ref.broker_name, ref.broker_id, ref.addr, dict(b.runtime))
        rows.append(
            {
                "broker": ref.key,
                "addr": ref.addr,
                "answered": bool(b.runtime),
                "producedToday": row.produced_today,
                "producedYesterday": row.produced_yesterday,
                "consumedToday": row.consumed_today,
            }
        )
    return rows


def _points(text_points: list[str], fields: int) -> list[list[float]]:
    """ "ms,a,b,..." chart texts as number lists; malformed points are skipped."""
    points = []
    for text in text_points:
        parts = text.split(",")
        if len(parts) != fields:
            continue
        try:
            points.append([float(p) for p in parts])
        except ValueError:
            continue
    return points


def top_topics(series: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The TOP topics of a day by messages produced plus consumed, from each topic's last
    point."""
    last = []
    for topic, texts in series.items():
        points = _points(texts[-1:], 5)
        if points:
            _, _, in_today, _, out_today = points[0]
            last.append((in_today + out_today, topic, int(in_today), int(out_today)))
    last.sort(key=lambda item: (-item[0], item[1]))
    return [
        {"topic": topic, "inToday": in_today, "outToday": out_today}
        for _, topic, in_today, out_today in last[:TOP]
    ]


def _day(request: Request) -> str | None:
    """?date=YYYY-MM-DD, today when absent; None when malformed."""
    day = request.query_params.get("date") or day_of(now_ms())
    return day if DAY_FORMAT.match(day) else None


def _bad_date(request: Request) -> JSONResponse:
    text = request.query_params.get("date", "")
    return JSONResponse({"error": f"date must be YYYY-MM-DD, not {text!r}"}, status_code=400)


async def dashboard_page(request: Request) -> Response:
    collector = collector_of(request)
    today = day_of(now_ms())
    day = _day(request)
    if day is None:
        flash(request, "warn", "The date must be YYYY-MM-DD; showing today.")
        day = today
    snapshot = collector.snapshot
    return render(
        request,
        "dashboard.html",
        day=day,
        today=today,
        rows=broker_rows(snapshot),
        collected_at=snapshot.taken_ms if snapshot else None,
        failures=snapshot.failures if snapshot else (),
        refresh_ms=REFRESH_MS,
    )


async def broker_json(request: Request) -> Response:
    collector = collector_of(request)
    day = _day(request)
    if day is None:
        return _bad_date(request)
    snapshot = collector.snapshot
    series = [
        {"name": key, "points": _points(texts, 2)}
        for key, texts in sorted(collector.history.series(day, BROKER).items())
    ]
    return JSONResponse(
        {
            "date": day,
            "collectedAt": snapshot.taken_ms if snapshot else None,
            "brokers": broker_rows(snapshot),
            "failures": [str(f) for f in snapshot.failures] if snapshot else [],
            "series": series,
        }
    )


async def topic_json(request: Request) -> Response:
    collector = collector_of(request)
    day = _day(request)
    if day is None:
        return _bad_date(request)
    series = collector.history.series(day, TOPIC)
    top = top_topics(series)
    topic = request.query_params.get("topic") or (top[0]["topic"] if top else "")
    body: dict[str, Any] = {
        "date": day,
        "top": top,
        "topic": topic,
        "points": _points(series.get(topic, []), 5),
    }
    if request.query_params.get("names"):
        body["names"] = sorted(series)
    return JSONResponse(body)


ROUTES: list[BaseRoute] = [
    Route("/", dashboard_page),
    Route("/dashboard/broker.json", broker_json),
    Route("/dashboard/topic.json", topic_json),
]
