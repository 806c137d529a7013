"""The delaying proxy: the network latency netem would give, in user space."""

import asyncio
import socket
import sys
import threading

from .common import NotMeasured

class DelayProxy:
    """A TCP proxy on 127.0.0.1 in front of `upstream_port`.

    Client→server bytes pass at once; every server→client read is delivered
    `delay` seconds after it arrived (order kept), as a one-way latency D
    would. A client that waits for the server N times waits about N × D, so
    wall time ÷ D counts the round trips it waits for. The connect itself is
    local; the server's greeting, delayed by D, stands for it.
    """

    def __init__(self, upstream_port, delay):
        self.upstream_port = upstream_port
        self.delay = delay
        self.port = None
        self.connections = 0
        self._loop = None
        self._thread = None
        self._server = None
        self._ready = threading.Event()
        self._error = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise NotMeasured("delaying proxy did not start")
        if self._error:
            raise self._error
        return self

    def _run(self):
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=256))
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as e:  # reported by start()
            self._error = NotMeasured(f"delaying proxy: cannot listen on 127.0.0.1: {e}")
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            try:
                loop.run_until_complete(self._server.wait_closed())
            except OSError as e:
                print(f"bench: closing the delaying proxy: {e}", file=sys.stderr)
            # The connections still open: cancelled, and waited for (their
            # cancellation is the expected outcome, not an error).
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    @staticmethod
    def _nodelay(writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # not a TCP socket any more (closed): nothing to tune
                pass

    async def _handle(self, creader, cwriter):
        self.connections += 1
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError as e:  # the client sees its connection closed, and its run fails with that
            print(f"bench: delaying proxy: cannot reach 127.0.0.1:{self.upstream_port}: {e}", file=sys.stderr)
            cwriter.close()
            return
        self._nodelay(cwriter)
        self._nodelay(swriter)
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def client_to_server():
            try:
                while True:
                    data = await creader.read(65536)
                    if not data:
                        break
                    swriter.write(data)
                    await swriter.drain()
                if swriter.can_write_eof():
                    swriter.write_eof()
            except (OSError, ConnectionError):  # either side reset: this connection is over, as the client sees
                pass

        async def server_to_queue():
            try:
                while True:
                    data = await sreader.read(65536)
                    queue.put_nowait((loop.time() + self.delay, data))
                    if not data:
                        break
            except (OSError, ConnectionError):
                queue.put_nowait((loop.time() + self.delay, b""))

        async def queue_to_client():
            try:
                while True:
                    due, data = await queue.get()
                    wait = due - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if not data:
                        break
                    cwriter.write(data)
                    await cwriter.drain()
            except (OSError, ConnectionError):  # the client went away: nothing left to deliver to
                pass
            finally:
                cwriter.close()

        tasks = [asyncio.ensure_future(t) for t in
                 (client_to_server(), server_to_queue(), queue_to_client())]
        await tasks[2]  # the server side is done (closed, delay included) or the client went away
        for t in tasks[:2]:
            t.cancel()
        swriter.close()

    def stop(self):
        if self._loop and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)
