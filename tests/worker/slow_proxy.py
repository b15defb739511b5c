#!/usr/bin/env python3
"""A loopback TCP proxy that forwards to a real registry at a limited rate: a slow registry, or,
at a few bytes per second, one that drips its answers and would hold a client for hours.

    slow_proxy.py UPSTREAM_PORT BYTES_PER_SECOND PORT_FILE

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening) and forwards every
connection to 127.0.0.1:UPSTREAM_PORT, both ways; what the registry sends back is released at
BYTES_PER_SECOND per connection, in pieces of at most a tenth of a second's worth. Runs until
killed.
"""
import asyncio
import os
import sys


async def pump(reader, writer, rate):
    piece = max(1, rate // 10)
    try:
        while True:
            data = await reader.read(piece if rate else 65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
            if rate:
                await asyncio.sleep(len(data) / rate)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except ConnectionError:
            pass


async def main():
    upstream, rate, port_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        # Requests go up at full speed; answers come back at the limited rate.
        await asyncio.gather(pump(client_reader, up_writer, 0), pump(up_reader, client_writer, rate))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
