"""`ccviz serve`: options are checked before serving; a served tab runs a real app and
lab; stopping the server, however it stops, leaves no app or lab behind.

The live tests drive the server as a browser would: over its websocket with aiohttp
(the extra `web` brings it), and with headless Chromium when it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil  # type: ignore[import-untyped, unused-ignore]  # no stubs among the dev deps
import pytest

from tests.conftest import gone, wait_until
from tui import cli, serve
from tui.args import Parser
from workloads.config import ConfigError

CHROMIUM = Path("/usr/bin/chromium")
# What the served app shows for --model asyncio once the lab's measurements arrive.
APP_TEXT = ("Context switches", "asyncio", "tasks/s", "ready queue")
CSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # colours and cursor moves between words


def parse(*argv: str) -> argparse.Namespace:
    parser = Parser(prog="ccviz")
    serve.add_serve_parser(parser.add_subparsers(parser_class=Parser))
    return parser.parse_args(["serve", *argv])


def wired() -> bool:
    return any(
        "serve" in (action.choices or {})
        for action in cli.build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )


# -- hermetic ---------------------------------------------------------------------------


def test_defaults_bind_loopback_port_8000() -> None:
    args = parse()
    assert (args.host, args.port, args.public_url) == ("127.0.0.1", 8000, None)
    assert serve._is_loopback(args.host)


def test_run_options_reach_the_app_command_unchanged() -> None:
    args = parse("--model", "pool", "--cpu-share", "0.5", "--concurrency", "7", "--ascii")
    argv = shlex.split(serve.run_command(args))
    assert argv[0] == "exec"
    start = argv.index(sys.executable)
    assert argv[start + 1 : start + 4] == ["-m", "tui.cli", "run"]
    run = cli.build_parser().parse_args(argv[start + 3 :])
    assert (run.model, run.cpu_share, run.concurrency, run.ascii) == ("pool", 0.5, 7, True)
    assert "--port" not in argv and "--host" not in argv
    assert shlex.split(serve.run_command(parse()))[start + 3 :] == ["run"]  # defaults stay out


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_port_out_of_range_is_one_line(port: str) -> None:
    with pytest.raises(ConfigError, match=r"^--port: .* out of range; allowed 1 to 65535$"):
        serve.cmd_serve(parse("--port", port))


def test_bad_run_option_fails_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "_make_server", lambda *a: pytest.fail("served anyway"))
    with pytest.raises(ConfigError, match=r"^--model: "):
        serve.cmd_serve(parse("--model", "nope"))
    with pytest.raises(ConfigError, match=r"^--host: "):
        serve.cmd_serve(parse("--host", "no-such-host.invalid"))


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    with pytest.raises(ConfigError) as info:
        serve.cmd_serve(parse())
    assert str(info.value) == (
        "serve: needs the optional extra: pip install 'concurrent-versations[web]'"
    )


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_only_a_non_loopback_host_warns(
    host: str, warned: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = SimpleNamespace(serve=lambda: print("served"))
    monkeypatch.setattr(serve, "_make_server", lambda *a: fake)
    monkeypatch.setattr(serve, "_check_listen", lambda host, port: None)
    monkeypatch.setattr(serve, "_end_children", lambda grace: None)
    assert serve.cmd_serve(parse("--host", host)) == 0
    out, err = capsys.readouterr()
    assert out == "served\n"
    assert (err.count("\n"), "warning" in err) == ((1, True) if warned else (0, False))


def test_public_url_is_connectable() -> None:
    assert serve.public_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert serve.public_url("::1", 80) == "http://[::1]:80"
    assert serve.public_url("0.0.0.0", 9) == f"http://{socket.gethostname()}:9"
    assert not serve._is_loopback("0.0.0.0") and serve._is_loopback("::1")


def test_cli_routes_serve() -> None:
    if not wired():
        pytest.skip("`serve` is not wired into tui.cli yet")
    assert cli.main(["serve", "--port", "70000"]) == cli.EXIT_USAGE


def test_busy_port_is_one_line_exit_2() -> None:
    pytest.importorskip("textual_serve")
    if not wired():
        pytest.skip("`serve` is not wired into tui.cli yet")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cmd = [sys.executable, "-m", "tui.cli", "serve", "--port", str(port)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert out.returncode == cli.EXIT_USAGE, out.stdout + out.stderr
    assert out.stderr.startswith(f"ccviz: error: --port: cannot listen on 127.0.0.1:{port}")
    assert out.stderr.count("\n") == 1


# -- live -------------------------------------------------------------------------------

LIVE_OPTIONS = ("--model", "asyncio", "--concurrency", "4")


def http_get(url: str) -> str | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    try:
        with opener.open(url, timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return None


def cmdline(proc: Any) -> list[str]:
    try:
        return list(proc.cmdline())
    except psutil.Error:
        return []


class Served:
    """A `ccviz serve` subprocess in its own session, and every process it started."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url, self.log = f"http://127.0.0.1:{self.port}", log
        cmd = [sys.executable, "-m", "tui.cli", "serve", "--port", str(self.port)]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*cmd, *LIVE_OPTIONS], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip
        self.seen: dict[int, Any] = {}  # pid → psutil.Process, safe to kill by pid later

    def labs(self) -> list[int]:
        """Pids of labs under the server now; every descendant seen is remembered."""
        try:
            tree = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.seen.update((p.pid, p) for p in tree)
        return [p.pid for p in tree if "workloads.labmain" in cmdline(p)]

    def stopped(self, sig: signal.Signals, *, group: bool = False) -> int:
        """Signal the server (or its whole group, as Ctrl+C does); wait for it and its tree."""
        self.labs()
        (os.killpg if group else os.kill)(self.proc.pid, sig)
        code = self.proc.wait(20)
        assert wait_until(lambda: gone(set(self.seen)), 15), f"left running: {self.seen}"
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        for proc in self.seen.values():
            with contextlib.suppress(psutil.Error):
                proc.kill()


@pytest.fixture
def served(tmp_path: Path, no_leaks: None) -> Iterator[Served]:
    """A server on a free loopback port that answers HTTP; killed afterwards whatever happens."""
    pytest.importorskip("textual_serve")
    if not wired():
        pytest.skip("`serve` is not wired into tui.cli yet")
    server = Served(tmp_path / "serve.log")
    try:
        assert wait_until(lambda: http_get(server.url) is not None, 30), server.log.read_text()
        yield server
    finally:
        server.close()


async def open_session(url: str, text: list[str]) -> Any:
    """Connect as textual.js does; a task keeps reading the screen into `text`."""
    import aiohttp

    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"{url.replace('http', 'ws')}/ws?width=120&height=40")
    await ws.send_json(["resize", {"width": 120, "height": 40}])

    async def read() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                text.append(msg.data.decode(errors="replace"))

    return session, ws, asyncio.create_task(read())


async def until(predicate: Any, timeout: float) -> bool:
    for _ in range(int(timeout / 0.1)):
        if await predicate() if asyncio.iscoroutinefunction(predicate) else predicate():
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.live
@pytest.mark.timeout(90)
def test_a_session_runs_the_app_on_a_lab_and_closing_it_ends_both(served: Served) -> None:
    page = http_get(served.url) or ""
    assert 'class="textual-terminal"' in page and "<div>ccviz</div>" in page
    assert f"ws://127.0.0.1:{served.port}/ws" in page

    async def scenario() -> None:
        text: list[str] = []
        session, ws, reader = await open_session(served.url, text)

        def screen() -> str:
            return CSI.sub("", "".join(text))

        try:
            assert await until(lambda: all(t in screen() for t in APP_TEXT), 30), screen()[-500:]
            assert await until(served.labs, 30), "no lab started for the session"
        finally:
            await ws.close()
            await reader
            await session.close()

    asyncio.run(scenario())
    assert wait_until(lambda: gone(set(served.seen)), 15), f"session left: {served.seen}"
    assert served.stopped(signal.SIGTERM) == 0


@pytest.mark.live
@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c", "sigkill"])
def test_stopping_the_server_ends_open_sessions(served: Served, how: str) -> None:
    if how == "sigkill" and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) missing: nothing ends apps of a killed server")
    sig = {"sigterm": signal.SIGTERM, "ctrl-c": signal.SIGINT, "sigkill": signal.SIGKILL}[how]

    async def scenario() -> int:
        session, ws, reader = await open_session(served.url, [])
        try:
            assert await until(lambda: len(served.labs()) == 1, 30), "no lab for the session"
            return await asyncio.to_thread(served.stopped, sig, group=how == "ctrl-c")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await ws.close()
            await session.close()

    code = asyncio.run(scenario())
    assert code == (-signal.SIGKILL if how == "sigkill" else 0), served.log.read_text()


# Installed before the page's scripts: keeps the text the app sends, minus escapes.
HOOK = r"""
window.__ccvizText = "";
const decoder = new TextDecoder();
window.WebSocket = class extends window.WebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      if (typeof event.data !== "string" && window.__ccvizText.length < 4e6) {
        const text = decoder.decode(event.data, {stream: true});
        window.__ccvizText += text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, "");
      }
    });
  }
};
"""
PROBE = f"""document.body && JSON.stringify({{
  started: document.body.classList.contains("-first-byte"),
  canvas: document.querySelectorAll("#terminal .xterm-screen canvas").length,
  text: {json.dumps(APP_TEXT)}.every((t) => window.__ccvizText.includes(t)),
  closed: document.body.classList.contains("-closed")}})"""


async def devtools(debug_port: int) -> tuple[Any, Any, Any]:
    """A DevTools connection to Chromium's first page: (session, websocket, call)."""
    import aiohttp

    session = aiohttp.ClientSession()
    async with session.get(f"http://127.0.0.1:{debug_port}/json/list") as response:
        page = next(t for t in await response.json() if t["type"] == "page")
    ws = await session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=64 << 20)
    ids = iter(range(1, 1 << 30))

    async def call(method: str, **params: Any) -> Any:
        ident = next(ids)
        await ws.send_json({"id": ident, "method": method, "params": params})
        async for msg in ws:
            reply = json.loads(msg.data)
            if reply.get("id") == ident:
                assert "error" not in reply, reply
                return reply["result"]
        raise AssertionError(f"DevTools closed during {method}")

    return session, ws, call


@pytest.mark.live
@pytest.mark.timeout(120)
def test_chromium_renders_the_app(served: Served, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed")
    profile = tmp_path / "chromium-profile"
    flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
    flags += "--disable-background-networking --disable-component-update --disable-sync "
    flags += "--no-proxy-server --window-size=1280,800 --remote-debugging-port=0"
    with (tmp_path / "chromium.log").open("wb") as log:
        browser = subprocess.Popen(
            [str(CHROMIUM), *flags.split(), f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    state: dict[str, Any] = {}
    try:
        port_file = profile / "DevToolsActivePort"
        assert wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 30)

        async def scenario() -> None:
            session, ws, call = await devtools(int(port_file.read_text().split()[0]))

            async def rendered() -> bool:
                result = await call("Runtime.evaluate", expression=PROBE, returnByValue=True)
                state.update(json.loads(result["result"].get("value") or "{}"))
                return bool(state.get("started") and state["canvas"] and state["text"])

            try:
                await call("Page.enable")
                await call("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
                await call("Page.navigate", url=served.url)
                assert await until(rendered, 30), state
                assert await until(served.labs, 10), "no lab behind the page"
                shot = await call("Page.captureScreenshot", format="png")
                (tmp_path / "served.png").write_bytes(base64.b64decode(shot["data"]))
            finally:
                await ws.close()
                await session.close()

        asyncio.run(scenario())
        assert not state["closed"]
        assert (tmp_path / "served.png").stat().st_size > 10_000  # a painted screen
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(10)
    # The closed tab ends its session: the app quits and stops its lab.
    assert wait_until(lambda: not served.labs() and gone(set(served.seen)), 20), served.seen
    assert served.stopped(signal.SIGTERM) == 0
