"""The IO server: answers each request after the latency it asks for.

It runs in its own process on 127.0.0.1 (an ephemeral port), so IO-bound tasks
do real socket round trips: threads really block in the kernel and event loops
really wait in epoll. Protocol: the client sends ``<microseconds>\\n`` and the
server replies ``ok\\n`` that much later; connections are kept alive. It prints
its port on stdout, and exits when its stdin closes (its lab is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys

from workloads.work import name_thread

__all__ = ["main", "serve"]

MAX_LATENCY_US = 120_000_000


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                us = min(max(int(line), 0), MAX_LATENCY_US)
            except ValueError:
                writer.write(b"error\n")
                break
            await asyncio.sleep(us / 1e6)
            writer.write(b"ok\n")
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(host: str = "127.0.0.1") -> None:
    """Serve until stdin reaches EOF."""
    server = await asyncio.start_server(_handle, host, 0, backlog=4096, limit=1024)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    eof = loop.create_future()

    def _on_stdin() -> None:
        if not os.read(0, 4096) and not eof.done():
            eof.set_result(None)

    loop.add_reader(0, _on_stdin)
    async with server:
        await eof


def main() -> None:
    name_thread("io-server")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
