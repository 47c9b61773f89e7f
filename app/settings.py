"""Where the engine is: connection settings shared by the dashboard and the alerting process.

Environment: EDDY_HOST (127.0.0.1), EDDY_PORT (6875), EDDY_USER (materialize), EDDY_PASSWORD,
EDDY_DATABASE (materialize), EDDY_SSLMODE (prefer), EDDY_CLUSTER (Materialize cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECT_TIMEOUT = 2  # seconds; a stopped engine is reported quickly


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 6875
    user: str = "materialize"
    password: str = ""
    dbname: str = "materialize"
    sslmode: str = "prefer"
    cluster: str = ""

    def conninfo(self, application_name: str = "eddy-dashboard") -> dict:
        info = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname,
                "sslmode": self.sslmode, "connect_timeout": CONNECT_TIMEOUT,
                "application_name": application_name}
        if self.password:
            info["password"] = self.password
        if self.cluster:
            info["options"] = f"--cluster={self.cluster}"
        return info

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def settings_from(env: dict[str, str], secrets: dict | None = None) -> Settings:
    """Secrets (`[connections.eddy]` of Streamlit) over environment variables over defaults."""
    s = dict(secrets or {})
    d = Settings()
    return Settings(
        host=str(s.get("host", env.get("EDDY_HOST", d.host))),
        port=int(s.get("port", env.get("EDDY_PORT", d.port))),
        user=str(s.get("user", env.get("EDDY_USER", d.user))),
        password=str(s.get("password", env.get("EDDY_PASSWORD", d.password))),
        dbname=str(s.get("dbname", env.get("EDDY_DATABASE", d.dbname))),
        sslmode=str(s.get("sslmode", env.get("EDDY_SSLMODE", d.sslmode))),
        cluster=str(s.get("cluster", env.get("EDDY_CLUSTER", d.cluster))))
