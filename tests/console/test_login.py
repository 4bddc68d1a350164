"""Login: required when the console is bound to a non-loopback address (0.0.0.0 here; the
browser still talks to 127.0.0.1), admin and read-only users from users.properties, and
CSRF tokens on every change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import ConsoleCluster, start_console


@pytest.fixture
def guarded_console(console_cluster: ConsoleCluster, tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "home"
    (home / "dashboard").mkdir(parents=True)
    (home / "dashboard" / "users.properties").write_text(
        "# name=password[,1]\nadmin=s3cret,1\nviewer=look\n"
    )
    process, url = start_console(home, console_cluster.namesrv_addr, host="0.0.0.0")
    try:
        yield url.replace("0.0.0.0", "127.0.0.1")
    finally:
        process.stop()


def test_without_users_file_a_non_loopback_console_does_not_start(
    console_cluster: ConsoleCluster, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError) as failed:
        start_console(tmp_path / "home", console_cluster.namesrv_addr, host="0.0.0.0")
    assert "users.properties does not exist" in str(failed.value)


def _log_in(page, url: str, name: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Log in").click()


def test_login_required_and_read_only_users(guarded_console: str, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{guarded_console}/topic?q=x")
    assert "/login" in page.url
    _log_in(page, guarded_console, "admin", "wrong")
    assert "wrong password" in page.locator(".flash.error").inner_text()
    _log_in(page, guarded_console, "viewer", "look")
    assert page.url.endswith("/topic?q=x")  # back where the visit started
    page.goto(f"{guarded_console}/ops")
    assert page.locator("text=(read-only)").count() == 1
    assert page.get_by_role("button", name="Add and use").count() == 0
    # A read-only user's POST with a valid token is still refused.
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    answer = page.request.post(
        f"{guarded_console}/ops/namesrv", form={"csrf_token": token, "namesrv_addr": "h:1"}
    )
    assert answer.status == 403
    assert "read-only" in answer.text()
    page.get_by_role("button", name="Log out").click()
    _log_in(page, guarded_console, "admin", "s3cret")
    page.goto(f"{guarded_console}/ops")
    assert page.get_by_role("button", name="Add and use").count() == 1


def test_changes_need_the_sessions_csrf_token(guarded_console: str) -> None:
    with httpx.Client(base_url=guarded_console, follow_redirects=False) as client:
        assert client.get("/cluster").status_code == 303
        login = client.get("/login")
        token = login.text.split('name="csrf-token" content="')[1].split('"')[0]
        refused = client.post("/login", data={"username": "admin", "password": "s3cret"})
        assert refused.status_code == 403  # no token
        done = client.post(
            "/login", data={"username": "admin", "password": "s3cret", "csrf_token": token}
        )
        assert done.status_code == 303
        assert client.get("/cluster").status_code == 200
        forged = client.post("/ops/namesrv", data={"namesrv_addr": "h:1", "csrf_token": "x"})
        assert forged.status_code == 403
        assert "CSRF" in forged.text


def test_metrics_stay_open_for_scrapers(guarded_console: str) -> None:
    answer = httpx.get(f"{guarded_console}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")


def test_behind_a_proxy_prefix_links_and_login_keep_the_prefix(
    console_cluster: ConsoleCluster, tmp_path: Path
) -> None:
    """A reverse proxy serving the console at /rocketmq/ strips the prefix before it
    forwards; the console is told with --root-path (rocketmq-dashboard #203/#377: login
    loops and 403s behind nginx came from prefix-blind redirects and CSRF)."""
    home = tmp_path / "home"
    (home / "dashboard").mkdir(parents=True)
    (home / "dashboard" / "users.properties").write_text("admin=s3cret,1\n")
    process, url = start_console(
        home, console_cluster.namesrv_addr, extra=("--login", "--root-path", "/rocketmq/")
    )
    try:
        with httpx.Client(base_url=url, follow_redirects=False) as proxy:  # already stripped
            first = proxy.get("/cluster?x=1")
            assert first.status_code == 303
            assert first.headers["location"] == "/rocketmq/login?next=/cluster%3Fx%3D1"
            login = proxy.get("/login")
            assert 'action="/rocketmq/login"' in login.text
            assert 'href="/rocketmq/static/console.css"' in login.text
            token = login.text.split('name="csrf-token" content="')[1].split('"')[0]
            done = proxy.post(
                "/login",
                data={"username": "admin", "password": "s3cret", "csrf_token": token,
                      "next": "/cluster?x=1"},
            )  # fmt: skip
            assert done.headers["location"] == "/rocketmq/cluster?x=1"
            page = proxy.get("/cluster").text
            assert 'href="/rocketmq/topic"' in page
            assert 'class="active">Cluster' in page.replace("\n", "").replace("  ", "")
    finally:
        process.stop()
