"""Server side of password authentication: SCRAM-SHA-256 (RFC 5802/7677) and MD5."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 4096


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def _attrs(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        if len(part) >= 2 and part[1] == "=":
            out[part[0]] = part[2:]
    return out


class ScramServer:
    """One SCRAM-SHA-256 exchange: `first(client_first)` then `final(client_final)`."""

    mechanism = "SCRAM-SHA-256"

    def __init__(self, password: str):
        self._salt = secrets.token_bytes(16)
        self._salted = hashlib.pbkdf2_hmac("sha256", password.encode(), self._salt, ITERATIONS)
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def first(self, client_first: bytes) -> bytes:
        text = client_first.decode("utf-8")
        parts = text.split(",", 2)
        if len(parts) < 3 or parts[0] not in ("n", "y"):
            raise ValueError("malformed SCRAM client-first-message")
        self._client_first_bare = parts[2]
        nonce = _attrs(self._client_first_bare).get("r")
        if not nonce:
            raise ValueError("SCRAM client nonce missing")
        self._nonce = nonce + base64.b64encode(secrets.token_bytes(18)).decode()
        salt = base64.b64encode(self._salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={ITERATIONS}"
        return self._server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        """The server-final-message; raises ValueError when the proof is wrong."""
        text = client_final.decode("utf-8")
        without_proof, sep, proof_part = text.rpartition(",p=")
        if not sep or _attrs(without_proof).get("r") != self._nonce:
            raise ValueError("malformed SCRAM client-final-message")
        proof = base64.b64decode(proof_part)
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_key = _hmac(self._salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        signature = _hmac(stored_key, auth_message)
        recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=False))
        if len(proof) != len(signature) or not hmac.compare_digest(
            hashlib.sha256(recovered).digest(), stored_key
        ):
            raise ValueError("password authentication failed")
        server_key = _hmac(self._salted, b"Server Key")
        return b"v=" + base64.b64encode(_hmac(server_key, auth_message))


def md5_expected(user: str, password: str, salt: bytes) -> str:
    """What a client sends for MD5 auth: 'md5' + md5(md5(password + user) + salt)."""
    inner = hashlib.md5((password + user).encode()).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
