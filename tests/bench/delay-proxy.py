#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# delay-proxy.py: a TCP proxy that holds every byte for a fixed time in each direction, so that a
# broker on loopback looks like one across a wide-area link (this machine has no netem qdisc).
# Used by tests/bench/bench-telemetry.sh for its "WAN" rows.
#
#   delay-proxy.py --listen-port P --to HOST:PORT --delay-ms D [--ready-file F]
#
# Each direction is a FIFO of (due time, bytes): bytes leave in the order they came, D ms after
# they were read, so the round trip through the proxy is 2 D plus loopback. TLS passes through
# untouched. Exits on SIGTERM.

import argparse
import asyncio
import collections
import signal
import socket


async def pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = collections.deque()
    more = asyncio.Event()
    done = False

    async def send():
        while True:
            while not queue:
                if done:
                    writer.close()
                    return
                more.clear()
                await more.wait()
            due, data = queue[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.popleft()
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            queue.append((loop.time() + delay, data))
            more.set()
    except ConnectionError:
        pass
    done = True
    more.set()
    try:
        await sender
    except ConnectionError:
        pass


async def serve(args):
    host, port = args.to.rsplit(":", 1)
    delay = args.delay_ms / 1000.0

    async def on_client(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.close()
            return
        for w in (cwriter, uwriter):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pump(creader, uwriter, delay), pump(ureader, cwriter, delay))

    server = await asyncio.start_server(on_client, "127.0.0.1", args.listen_port)
    if args.ready_file:
        open(args.ready_file, "w").close()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


def main():
    p = argparse.ArgumentParser(description="A TCP proxy that delays each direction by a fixed time.")
    p.add_argument("--listen-port", type=int, required=True)
    p.add_argument("--to", required=True, help="HOST:PORT to forward to")
    p.add_argument("--delay-ms", type=float, required=True, help="one-way delay")
    p.add_argument("--ready-file", help="created once the proxy listens")
    args = p.parse_args()
    if args.delay_ms < 0:
        p.error("--delay-ms must not be negative")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
