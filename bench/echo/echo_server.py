#!/usr/bin/env python3
"""asyncio / uvloop TCP echo server for the echo benchmark (bench/echo/echo_compare.py).

    python3 echo_server.py [--uvloop] PORT      (PORT 0: an ephemeral port)

asyncio's fastest path: a Protocol whose data_received writes the data straight back to the
transport (no streams, no coroutine per connection).  asyncio and uvloop set TCP_NODELAY on
every TCP connection themselves.  Prints "listening on 127.0.0.1:PORT" once it accepts;
SIGINT / SIGTERM end it (exit 0).
"""
import asyncio
import signal
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set_result, None)
    server = await loop.create_server(Echo, '127.0.0.1', port, backlog=4096)
    print('listening on 127.0.0.1:%d' % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stop


if __name__ == '__main__':
    args = sys.argv[1:]
    use_uvloop = '--uvloop' in args
    args = [a for a in args if a != '--uvloop']
    port = int(args[0]) if args else 0
    if use_uvloop:
        import uvloop
        uvloop.install()
    asyncio.run(main(port))
