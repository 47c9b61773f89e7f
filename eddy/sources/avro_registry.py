"""Confluent schema registry connections: `CREATE CONNECTION csr TO CONFLUENT SCHEMA REGISTRY
(URL 'http://...' [, USERNAME = 'u', PASSWORD = SECRET s])`, and the client the Avro sources and
sinks use (Confluent's REST API: Confluent, Karapace, Apicurio's `/apis/ccompat/v7`).

Errors are split the way a source needs them: `UnknownSchema` (the registry answered that the
id or subject does not exist: the message is a dead letter) versus `RegistryUnavailable` (no
answer, or a 5xx: transient, the batch is retried and nothing is lost).
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.parse
import urllib.request

from eddy.errors import EddyError, unsupported
from eddy.kafka_client import secret
from eddy.sources.options import Cursor

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
TIMEOUT = 10.0


class RegistryError(Exception):
    """The registry refused a request (4xx other than not-found); `code` is its error_code."""

    def __init__(self, status: int, code: int | None, message: str):
        super().__init__(f"schema registry: {message} (HTTP {status}, error code {code})")
        self.status, self.code = status, code


class UnknownSchema(RegistryError):
    """The registry has no such schema id, subject or version."""


class RegistryUnavailable(Exception):
    """The registry did not answer (down, timeout, 5xx): retry later."""


def parse_connection(body: str) -> dict:
    """`SCHEMA REGISTRY (URL '...', USERNAME = '...', PASSWORD = SECRET name)` -> options."""
    cur = Cursor(body, "CREATE CONNECTION ... TO CONFLUENT SCHEMA REGISTRY")
    cur.expect_word("SCHEMA", "REGISTRY")
    options: dict = {"kind": "csr", "url": None, "username": None, "password_secret": None}
    cur.expect_punct("(")
    while True:
        name = cur.option_name(("URL", "USERNAME", "PASSWORD"))
        cur.accept_punct("=")
        if name == "URL":
            options["url"] = cur.expect_string().rstrip("/")
        elif name == "USERNAME":
            options["username"] = cur.expect_string()
        elif name == "PASSWORD":
            cur.expect_word("SECRET")
            options["password_secret"] = cur.expect_name()
        else:
            raise unsupported(f"CONFLUENT SCHEMA REGISTRY option {name}")
        if not cur.accept_punct(","):
            break
    cur.expect_punct(")")
    cur.expect_end()
    url = options["url"]
    if not url:
        raise EddyError("42601", "CREATE CONNECTION ... TO CONFLUENT SCHEMA REGISTRY: URL is required")
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise EddyError("22023", f"invalid schema registry URL {url!r}: expected http(s)://host:port[/path]")
    return options


def csr_connection(ctx, name: str) -> dict:
    options = ctx.connection(name)
    if not isinstance(options, dict) or options.get("kind") != "csr":
        raise EddyError("42809", f'connection "{name}" is not a CONFLUENT SCHEMA REGISTRY connection')
    return options


class RegistryClient:
    """A small, thread-safe client with caches for the immutable answers (schemas by id)."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None):
        self.url = url.rstrip("/")
        self._auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._auth = f"Basic {token}"
        self._by_id: dict[int, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: dict, ctx=None) -> RegistryClient:
        password = secret(ctx, options["password_secret"]) if options.get("password_secret") else None
        return cls(options["url"], options.get("username"), password)

    def _request(self, method: str, path: str, body: dict | None = None) -> dict | list:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
        if self._auth:
            req.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                info = json.loads(e.read() or b"{}")
            except ValueError:
                info = {}
            code, message = info.get("error_code"), info.get("message") or e.reason
            if e.code >= 500:
                raise RegistryUnavailable(f"{self.url}: HTTP {e.code}: {message}") from None
            if e.code == 404:
                raise UnknownSchema(e.code, code, message) from None
            raise RegistryError(e.code, code, message) from None
        except (OSError, ValueError) as e:  # refused, timeout, reset, garbage
            raise RegistryUnavailable(f"{self.url}: {e}") from None

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text of a global id (cached: ids never change)."""
        with self._lock:
            hit = self._by_id.get(schema_id)
        if hit is not None:
            return hit
        info = self._request("GET", f"/schemas/ids/{schema_id}")
        if info.get("schemaType", "AVRO") != "AVRO":
            raise RegistryError(200, None, f"schema id {schema_id} is {info['schemaType']}, not AVRO")
        with self._lock:
            self._by_id[schema_id] = info["schema"]
        return info["schema"]

    def latest(self, subject: str) -> tuple[int, str]:
        """(id, schema text) of the latest version of `subject`."""
        info = self._request("GET", f"/subjects/{urllib.parse.quote(subject, safe='')}/versions/latest")
        with self._lock:
            self._by_id[int(info["id"])] = info["schema"]
        return int(info["id"]), info["schema"]

    def register(self, subject: str, schema: str) -> int:
        """Register `schema` under `subject` (idempotent); its global id."""
        info = self._request("POST", f"/subjects/{urllib.parse.quote(subject, safe='')}/versions",
                             {"schema": schema, "schemaType": "AVRO"})
        with self._lock:
            self._by_id[int(info["id"])] = schema
        return int(info["id"])


class ConfluentConnector:
    """The `confluent` connector kind: schema registry connections only (no sources of its own;
    Kafka sources and sinks use them with FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY)."""

    kind = "confluent"

    def create_connection(self, name: str, body: str) -> dict:
        return parse_connection(body)

    def create_source(self, ctx, body: str):
        raise unsupported("CREATE SOURCE ... FROM CONFLUENT")

    def create_sink(self, ctx, body: str):
        raise unsupported("CREATE SINK ... INTO CONFLUENT")


make_connector = ConfluentConnector
