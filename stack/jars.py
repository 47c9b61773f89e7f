"""Kafka's classpath: Maven resolves the pinned jars of stack/pom.xml from Maven Central.

The jars are copied into `<jars_dir>` (default `.stack/jars/`, untracked); Maven keeps its
download cache in ~/.m2. A stamp file holding the pom's hash makes re-runs instant.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from stack.errors import StackError
from stack.settings import Settings

POM = Path(__file__).resolve().parent / "pom.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
INSTALL_HINT = "Install it with `sudo apt-get install openjdk-17-jre-headless maven` (Java 17+)."


def kafka_version() -> str:
    return re.search(r"<kafka.version>([^<]+)<", POM.read_text()).group(1)


def java() -> str:
    """Path of a Java 17+ `java`, or a StackError saying how to install one."""
    path = shutil.which("java")
    if path is None:
        raise StackError(f"Java was not found on PATH; the local Kafka needs Java 17 or newer. {INSTALL_HINT}")
    out = subprocess.run([path, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(m.group(1)) if m else 0
    if major == 1 and m.group(2):  # "1.8.0" style
        major = int(m.group(2))
    if major < 17:
        raise StackError(f"`{path}` is Java {major or 'of unknown version'}; Kafka {kafka_version()} needs Java 17 or newer. {INSTALL_HINT}")
    return path


def _stamp(settings: Settings) -> Path:
    return settings.jars_dir / ".resolved"


def _pom_hash() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready(settings: Settings) -> bool:
    stamp = _stamp(settings)
    return stamp.exists() and stamp.read_text().strip() == _pom_hash()


def ensure_jars(settings: Settings, quiet: bool = False) -> Path:
    """Resolve the jars unless the stamp says they match the pom; return the jars dir."""
    if jars_ready(settings):
        return settings.jars_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"Maven (`mvn`) was not found on PATH; it fetches Kafka's jars from Maven Central. {INSTALL_HINT}")
    target = settings.jars_dir
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if not quiet:
        print(f"Resolving Kafka {kafka_version()} jars from Maven Central into {target} ...", flush=True)
    cmd = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM), *settings.maven_args,
           f"{DEPENDENCY_PLUGIN}:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={target}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not any(target.glob("kafka_2.13-*.jar")):
        out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
        errors = [ln.split("[ERROR]", 1)[1].split(" -> [Help")[0].strip()
                  for ln in out.splitlines() if "[ERROR]" in ln]
        reason = next((e for e in errors if e), out.strip()[-400:] or "no jars were produced")
        raise StackError(
            f"Maven could not resolve Kafka's jars (stack/pom.xml, Kafka {kafka_version()}): {reason} "
            f"Check network access to https://repo.maven.apache.org (or your ~/.m2/settings.xml "
            f"mirror/proxy) and run `make setup` again."
        )
    _stamp(settings).write_text(_pom_hash() + "\n")
    return target
