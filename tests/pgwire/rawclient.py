"""A minimal blocking protocol client for tests that need exact control over messages."""

from __future__ import annotations

import socket
import struct

from pygwire.messages import StartupMessage


class RawClient:
    def __init__(self, port: int, user: str = "materialize", startup: bool = True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if startup:
            self.sock.sendall(StartupMessage(params={"user": user, "database": "materialize"})
                              .to_wire())
            self.until(b"Z")

    def send(self, *messages) -> None:
        self.sock.sendall(b"".join(m if isinstance(m, bytes) else m.to_wire() for m in messages))

    def recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def read(self) -> tuple[bytes, bytes]:
        head = self.recv_exact(5)
        (length,) = struct.unpack("!I", head[1:])
        return head[:1], self.recv_exact(length - 4)

    def until(self, kind: bytes = b"Z") -> list[tuple[bytes, bytes]]:
        """Messages up to and including the first of type `kind`."""
        out = []
        while True:
            msg = self.read()
            out.append(msg)
            if msg[0] == kind:
                return out

    def closed(self) -> bool:
        """True when the server has closed the connection (after any pending messages)."""
        try:
            while True:
                self.read()
        except TimeoutError:
            return False
        except (ConnectionError, OSError):
            return True

    def close(self) -> None:
        self.sock.close()


def kinds(messages) -> bytes:
    return b"".join(k for k, _ in messages)


def data_values(payload: bytes) -> list[bytes | None]:
    (n,) = struct.unpack_from("!H", payload)
    pos, out = 2, []
    for _ in range(n):
        (size,) = struct.unpack_from("!i", payload, pos)
        pos += 4
        if size < 0:
            out.append(None)
        else:
            out.append(payload[pos:pos + size])
            pos += size
    return out


def error_code(payload: bytes) -> str:
    for field in payload.split(b"\x00"):
        if field[:1] == b"C":
            return field[1:].decode()
    return ""
