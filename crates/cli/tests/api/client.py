#!/usr/bin/env python3
"""A chainmail daemon API client in another language than the daemon, with
only the standard library: it connects to the socket named on the command
line and bridges lines both ways — each line read on stdin is sent to the
daemon as is, each line the daemon writes is printed on stdout (flushed),
and `EOF` is printed when the daemon closes the connection.

The tests drive it (requests in, responses and notifications out) and
check what the daemon answers; nothing here is chainmail-specific beyond
JSON-RPC 2.0 framing: one JSON object per line.
"""

import json
import socket
import sys
import threading


def main() -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(sys.argv[1])
    except OSError as e:
        print(json.dumps({"connect_error": str(e)}), flush=True)
        return 1

    def pump_out() -> None:
        f = sock.makefile("rb")
        for line in f:
            # Parse to prove each line is one JSON object, then pass it on.
            obj = json.loads(line)
            print(json.dumps(obj), flush=True)
        print("EOF", flush=True)

    reader = threading.Thread(target=pump_out, daemon=True)
    reader.start()
    for line in sys.stdin:
        try:
            sock.sendall(line.encode())
        except OSError:
            break
    sock.shutdown(socket.SHUT_WR)
    reader.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
