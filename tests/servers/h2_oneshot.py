"""An HTTP/2 server (prior knowledge, cleartext) that answers one request per connection: it sends
GOAWAY, then the response, then closes. Each response's body is the number of
the connection that carried it, so tests see that a client replaced a connection the server
closed. Built on the `h2` state machine (the one httpx uses); hypercorn closes idle connections
only after seconds."""

from __future__ import annotations

import itertools
import socket
import struct
import threading

import h2.config
import h2.connection
import h2.events

from tests.servers.listener import ThreadedServer, linger


class H2OneShotServer(ThreadedServer):
    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def _handle(self, conn: socket.socket) -> None:
        with self._lock:
            number = next(self._numbers)
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        try:
            conn.settimeout(10)
            h2conn.initiate_connection()
            conn.sendall(h2conn.data_to_send())
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                for event in h2conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        body = str(number).encode()
                        h2conn.send_headers(event.stream_id, [(":status", "200"), ("content-length", str(len(body)))])
                        h2conn.send_data(event.stream_id, body, end_stream=True)
                        # GOAWAY (NO_ERROR, this stream the last) ahead of the response: the client
                        # knows the connection is ending before it has its answer. Written by
                        # hand: h2's state machine sends nothing more once it has sent GOAWAY.
                        goaway = struct.pack(">IBIII", 8 << 8 | 0x7, 0, 0, event.stream_id, 0)
                        conn.sendall(goaway + h2conn.data_to_send())
                        linger(conn)
                        return
                conn.sendall(h2conn.data_to_send())
        except OSError:
            pass
        finally:
            conn.close()
