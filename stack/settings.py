"""Where the local stack lives and which ports it uses (overridable with STACK_* variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Settings:
    """One local stack instance. The defaults are the project's stack; tests make private ones.

    Environment fallbacks: STACK_DIR, STACK_JARS_DIR, STACK_KAFKA_PORT, STACK_CONTROLLER_PORT,
    STACK_EDDY_PORT, STACK_PARTITIONS, STACK_MAVEN_ARGS (extra `mvn` arguments),
    STACK_REGISTRY_PORT, STACK_REGISTRY_MANAGEMENT_PORT, STACK_REGISTRY_DIST (the unpacked
    Apicurio Registry), STACK_FORMAT (`json` or `avro`: with `avro`, `up` starts the registry).
    """

    state_dir: Path = ROOT / ".stack"
    jars_dir: Path = ROOT / ".stack" / "jars"
    kafka_port: int = 9092
    controller_port: int = 9093
    eddy_port: int = 6875
    partitions: int = 3
    maven_args: tuple[str, ...] = ()
    registry_port: int = 8081
    registry_management_port: int = 9081
    registry_dist: Path = ROOT / ".stack" / "apicurio-registry-3.3.3"
    format: str = "json"

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        env = os.environ
        s = cls(
            state_dir=Path(env.get("STACK_DIR", cls.state_dir)).resolve(),
            jars_dir=Path(env.get("STACK_JARS_DIR", cls.jars_dir)).resolve(),
            kafka_port=int(env.get("STACK_KAFKA_PORT", cls.kafka_port)),
            controller_port=int(env.get("STACK_CONTROLLER_PORT", cls.controller_port)),
            eddy_port=int(env.get("STACK_EDDY_PORT", cls.eddy_port)),
            partitions=int(env.get("STACK_PARTITIONS", cls.partitions)),
            maven_args=tuple(env.get("STACK_MAVEN_ARGS", "").split()),
            registry_port=int(env.get("STACK_REGISTRY_PORT", cls.registry_port)),
            registry_management_port=int(env.get("STACK_REGISTRY_MANAGEMENT_PORT",
                                                 cls.registry_management_port)),
            registry_dist=Path(env.get("STACK_REGISTRY_DIST", cls.registry_dist)).resolve(),
            format=env.get("STACK_FORMAT", cls.format).strip().lower() or "json",
        )
        return replace(s, **overrides)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.kafka_port}"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def kafka_dir(self) -> Path:
        """Kafka's config and data (`data/` is the KRaft log dir, kept across restarts)."""
        return self.state_dir / "kafka"

    @property
    def eddy_data_dir(self) -> Path:
        return self.state_dir / "eddy"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"
