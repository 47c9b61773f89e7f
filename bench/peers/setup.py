"""Each peer in its own virtualenv under `.bench/` (its pins never touch the project's):

- `.bench/flink-venv`: apache-flink (PyFlink) from PyPI; the Kafka SQL connector jar from Maven
  Central (bench/peers/pom.xml) into `.bench/flink-jars/`;
- `.bench/pathway-venv`: pathway from PyPI.

    .venv/bin/python bench/peers/setup.py [flink|pathway ...]

A stamp file per venv holding its pins makes re-runs instant."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / ".bench"
POM = Path(__file__).resolve().parent / "pom.xml"
PINS = {
    "flink": ["apache-flink==2.3.0"],
    "pathway": ["pathway==0.33.0"],
}
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class PeerSetupError(RuntimeError):
    """A peer could not be installed (the message says which step and why)."""


def venv(peer: str) -> Path:
    return BENCH / f"{peer}-venv"


def python(peer: str) -> Path:
    return venv(peer) / "bin" / "python"


def flink_jars() -> Path:
    return BENCH / "flink-jars"


def ensure(peer: str, log=print) -> Path:
    """Create and fill the peer's venv unless its stamp matches the pins; returns its python."""
    pins = PINS[peer] + (["pom:" + POM.read_text()] if peer == "flink" else [])
    stamp = venv(peer) / ".pins"
    if stamp.exists() and stamp.read_text() == "\n".join(pins):
        return python(peer)
    BENCH.mkdir(exist_ok=True)
    if not python(peer).exists():
        log(f"creating {venv(peer)}")
        _run([sys.executable, "-m", "venv", str(venv(peer))], "venv")
    log(f"installing {' '.join(PINS[peer])} into {venv(peer)} (first time only)")
    _run([str(python(peer)), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          *PINS[peer]], f"pip install {' '.join(PINS[peer])}")
    if peer == "flink":
        mvn = shutil.which("mvn")
        if mvn is None:
            raise PeerSetupError("Maven (mvn) is not on PATH: it fetches the Kafka SQL connector")
        flink_jars().mkdir(parents=True, exist_ok=True)
        _run([mvn, "-q", "-B", "-f", str(POM), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
              f"-DoutputDirectory={flink_jars()}"], "mvn copy-dependencies")
    stamp.write_text("\n".join(pins))
    return python(peer)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise PeerSetupError(f"{what} failed (exit {done.returncode}):\n"
                             f"{(done.stdout + done.stderr)[-3000:]}")


if __name__ == "__main__":
    for name in sys.argv[1:] or list(PINS):
        try:
            print(ensure(name))
        except PeerSetupError as e:
            print(f"{name}: {e}", file=sys.stderr)
            sys.exit(1)
