"""`ccviz serve`: the live view in a browser, through textual-serve (optional extra `web`).

textual-serve starts one `ccviz run …` process per browser tab and relays its screen
over a websocket, so every visitor gets a lab of their own. A lab runs work on this
machine at the visitor's command, so the server binds to loopback unless `--host`
says otherwise, and then says out loud that the lab is reachable.

Stopping the server (Ctrl+C, SIGTERM) ends every session: each app is asked to quit
(it stops its lab on the way out) and any app still running after a grace period is
killed; a killed app's lab ends by itself when its stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import shlex
import shutil
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, TypeVar

from workloads.config import ConfigError

if TYPE_CHECKING:
    from aiohttp import web
    from textual_serve.server import Server

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "add_serve_parser",
    "cmd_serve",
    "public_url",
    "run_command",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MISSING_EXTRA = "serve: needs the optional extra: pip install 'concurrent-versations[web]'"
QUIT_GRACE_S = 8.0
"""How long an app may take to quit (and stop its lab) before it is killed."""

P = TypeVar("P", bound=argparse.ArgumentParser)


def add_serve_parser(subparsers: argparse._SubParsersAction[P]) -> P:
    """Add `serve`: `--host`, `--port`, `--public-url` and every option of `run`.

    The run options are parsed here too, so a bad value fails at once with the usual
    one-line error instead of in each browser tab.
    """
    from tui.args import add_view_options as _add_view_options
    from tui.args import add_workload_options as _add_workload_options
    from tui.args import number as _number

    p = subparsers.add_parser(
        "serve",
        help="serve the live view to a web browser (needs the extra 'web')",
        description="Serve the live view over HTTP with textual-serve: each browser tab "
        "runs its own `ccviz run` with the options given here, and its own lab. "
        "Binds to 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1; anything else makes the lab "
        "reachable from other machines)",
    )
    p.add_argument(
        "--port",
        type=_number("--port", int),
        default=DEFAULT_PORT,
        help=f"TCP port, 1..65535 (default {DEFAULT_PORT})",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use to reach this server, if not http://HOST:PORT "
        "(behind a proxy, or when listening on 0.0.0.0)",
    )
    known = {id(action) for action in p._actions}  # argparse keeps no public list
    _add_workload_options(p, lists=False)
    _add_view_options(p)
    p.set_defaults(serve_run_actions=[a for a in p._actions if id(a) not in known])
    return p


def run_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs per session: `ccviz run` with our run options.

    Only options that differ from their default are passed on. `exec` lets the app
    replace the shell, so the server's children are the apps themselves. The
    interpreter is this one, so a venv works without `ccviz` on PATH. An app does not
    end when its stdin closes, so if the server dies without cleaning up (SIGKILL)
    the app and its lab would run on; util-linux's `setpriv --pdeathsig` has the
    kernel send the app SIGTERM then, and the app quits as on Ctrl+C.
    """
    argv = [sys.executable, "-m", "tui.cli", "run"]
    for action in args.serve_run_actions:
        value = getattr(args, action.dest)
        flag = max(action.option_strings, key=len)
        if action.nargs == 0:  # a switch such as --ascii
            if value and value != action.default:
                argv.append(flag)
        elif value is not None and value != action.default:
            argv += [flag, str(value)]
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
    return "exec " + shlex.join(argv)


def _is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ConfigError(f"--host: {host!r} is not an address or a name that resolves") from None
    return all(ipaddress.ip_address(str(info[4][0])).is_loopback for info in infos)


def public_url(host: str, port: int) -> str:
    """The URL the page gives the browser for its websocket: `http://HOST:PORT`.

    IPv6 literals get brackets; an any-address (0.0.0.0, ::) is no place to connect
    to, so the machine's name stands in for it.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        return f"http://{socket.gethostname()}:{port}"
    return f"http://[{host}]:{port}" if address.version == 6 else f"http://{host}:{port}"


def _check(args: argparse.Namespace) -> bool:
    """Validate port, host and run options; return whether the host is loopback."""
    from tui.args import config_from_args as _config

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port: {args.port} is out of range; allowed 1 to 65535")
    if args.public_url is not None and not args.public_url.startswith(("http://", "https://")):
        raise ConfigError(f"--public-url: {args.public_url!r} must start with http:// or https://")
    _config(args)
    return _is_loopback(args.host)


def _listen_error(host: str, port: int, exc: OSError) -> ConfigError:
    flag = "--host" if exc.errno == errno.EADDRNOTAVAIL else "--port"
    return ConfigError(f"{flag}: cannot listen on {host}:{port}: {exc.strerror or exc}")


def _check_listen(host: str, port: int) -> None:
    """Bind (and release) every address the server will, so a taken port or a foreign
    address fails with one line before textual-serve announces anything."""
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
                sock.bind(address)
    except OSError as exc:
        raise _listen_error(host, port, exc) from None


def _end_children(grace: float) -> None:
    """Give the apps this server started `grace` seconds to exit, then end them.

    Survivors get SIGTERM (the app quits as on Ctrl+C and stops its lab), then SIGKILL
    (its lab then ends by itself, on stdin EOF). Other children are left alone. Exits
    are polled, never reaped: asyncio's child watcher reaps its own processes.
    """
    import psutil  # type: ignore[import-untyped, unused-ignore]  # no stubs in dev deps

    def running(procs: list[Any], timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            alive = []
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    if proc.status() != psutil.STATUS_ZOMBIE:
                        alive.append(proc)
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(0.05)

    apps = []
    for proc in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "tui.cli" in proc.cmdline():
                apps.append(proc)
    alive = running(apps, grace)
    for sig, wait in ((signal.SIGTERM, QUIT_GRACE_S), (signal.SIGKILL, 1.0)):
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        alive = running(alive, wait)


def _make_server(command: str, host: str, port: int, url: str) -> Server:
    """A textual-serve `Server` that ends its sessions when it shuts down.

    textual-serve leaves open websockets to aiohttp's shutdown, which waits up to 60 s
    before cancelling them; here `on_shutdown` cancels them at once, which makes each
    session send its app a quit and wait for it to exit.
    """
    try:
        from textual_serve.server import Server
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None

    class CcvizServer(Server):
        def __init__(self) -> None:
            super().__init__(command, host=host, port=port, title="ccviz", public_url=url)
            self.sessions: set[asyncio.Task[Any]] = set()

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            task = asyncio.current_task()
            assert task is not None
            self.sessions.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.sessions.discard(task)

        async def on_startup(self, app: web.Application) -> None:
            print(f"ccviz serve: open {url} (one lab per tab; Ctrl+C stops)", flush=True)

        async def on_shutdown(self, app: web.Application) -> None:
            running = [task for task in self.sessions if not task.done()]
            for task in running:
                task.cancel()  # the session sends its app "quit" and waits for it
            if not running:
                return
            await asyncio.to_thread(_end_children, QUIT_GRACE_S)
            # A session whose app is gone may still wait up to 10 s for the browser
            # to acknowledge the websocket close; a second cancel drops that wait.
            _, pending = await asyncio.wait(running, timeout=1.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    return CcvizServer()


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the live view until Ctrl+C or SIGTERM; leave no app or lab behind."""
    loopback = _check(args)
    url = args.public_url or public_url(args.host, args.port)
    server = _make_server(run_command(args), args.host, args.port, url)
    _check_listen(args.host, args.port)
    if not loopback:
        print(
            f"ccviz: warning: listening on {args.host}: anyone who can reach it can "
            "start labs on this machine",
            file=sys.stderr,
        )
    # textual-serve asks for the current loop; a fresh one avoids asyncio's
    # deprecation warning and anything a previous command left behind.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        server.serve()
    except OSError as exc:  # lost a race for the port since _check_listen
        raise _listen_error(args.host, args.port, exc) from None
    finally:
        _end_children(0.0)  # normally none left: on_shutdown ended them
        asyncio.set_event_loop(None)
        loop.close()  # aiohttp closes it after serving; not if binding failed
    return 0
