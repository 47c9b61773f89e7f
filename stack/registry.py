"""The local schema registry: Apicurio Registry 3 (Confluent-compatible API) on 127.0.0.1.

The runnable distribution (`io.apicurio:apicurio-registry-app:<version>:tar.gz:all`, a Quarkus
fast-jar) is fetched once by Maven from Maven Central into `<registry_dist>` (default
`.stack/apicurio-registry-<version>/`, shared by every stack like the Kafka jars) and run with a
Java 21+ `java` (Kafka stays on the default JDK). Schemas are kept durably in an H2 file
database under `<state_dir>/registry/`, so a restart of the registry keeps every schema and id.
The global compatibility level is BACKWARD (Confluent's default; Apicurio's own default is
NONE), so an incompatible new version of a subject is refused with error code 409.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from stack import procs
from stack.errors import StackError
from stack.jars import DEPENDENCY_PLUGIN, POM
from stack.settings import HOST, Settings

VERSION = "3.3.3"
ARTIFACT = f"io.apicurio:apicurio-registry-app:{VERSION}:tar.gz:all"
MIN_JAVA = 21
JVM_OPTS = ["-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true"]
READY_TIMEOUT = 180.0  # ~30-45 s on a loaded 2-core machine
STOP_GRACE = 20.0
CCOMPAT = "/apis/ccompat/v7"
JSON_TYPE = "application/vnd.schemaregistry.v1+json"
JAVA_HINT = (f"The schema registry (Apicurio Registry {VERSION}) needs Java {MIN_JAVA} or newer: "
             f"install one (e.g. Temurin 21/25, or `apt-get install openjdk-21-jre-headless`) and "
             f"point STACK_REGISTRY_JAVA at its `java` (Kafka keeps using the default Java).")


def url(s: Settings) -> str:
    """The Confluent-compatible base URL clients and CREATE CONNECTION take."""
    return f"http://{HOST}:{s.registry_port}{CCOMPAT}"


def _java_major(path: str) -> int:
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    m = re.search(r'version "(\d+)', out)
    return int(m.group(1)) if m else 0


def java() -> str:
    """A Java 21+ `java`: STACK_REGISTRY_JAVA, JAVA21_HOME, the newest JDK under /usr/lib/jvm,
    then `java` on PATH; a StackError naming what is missing otherwise."""
    wanted = os.environ.get("STACK_REGISTRY_JAVA")
    if wanted:
        if _java_major(wanted) < MIN_JAVA:
            raise StackError(f"STACK_REGISTRY_JAVA={wanted} is not a Java {MIN_JAVA}+ `java`. {JAVA_HINT}")
        return wanted
    candidates = []
    if os.environ.get("JAVA21_HOME"):
        candidates.append(Path(os.environ["JAVA21_HOME"]) / "bin" / "java")
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += sorted(jvm.glob("*/bin/java"), reverse=True)
    if shutil.which("java"):
        candidates.append(Path(shutil.which("java")))
    found = []
    for c in candidates:
        if c.exists():
            major = _java_major(str(c))
            found.append(f"{c} (Java {major or '?'})")
            if major >= MIN_JAVA:
                return str(c)
    seen = "; found only: " + ", ".join(found) if found else "; no Java was found at all"
    raise StackError(f"No Java {MIN_JAVA}+ for the schema registry{seen}. {JAVA_HINT}")


def _runner(s: Settings) -> Path:
    return s.registry_dist / "quarkus-run.jar"


def ensure_dist(s: Settings, quiet: bool = False) -> Path:
    """Fetch and unpack the registry distribution unless present; return quarkus-run.jar."""
    jar = _runner(s)
    if jar.exists():
        return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (`mvn`) was not found on PATH; it fetches the schema registry "
                         f"({ARTIFACT}) from Maven Central.")
    staging = s.registry_dist.with_name(s.registry_dist.name + ".download")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if not quiet:
        print(f"Fetching Apicurio Registry {VERSION} from Maven Central (~160 MB) ...", flush=True)
    cmd = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM), *s.maven_args,
           f"{DEPENDENCY_PLUGIN}:copy", f"-Dartifact={ARTIFACT}", f"-DoutputDirectory={staging}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    archives = list(staging.glob("*.tar.gz"))
    if proc.returncode != 0 or not archives:
        out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).strip()[-400:]
        raise StackError(f"Maven could not fetch {ARTIFACT}: {out or 'no archive'}. Check network "
                         f"access to Maven Central (or your ~/.m2/settings.xml mirror).")
    unpacked = staging / "dist"
    with tarfile.open(archives[0]) as tar:
        tar.extractall(unpacked, filter="data")
    if not (unpacked / "quarkus-run.jar").exists():
        raise StackError(f"{archives[0].name} has no quarkus-run.jar")
    shutil.rmtree(s.registry_dist, ignore_errors=True)
    unpacked.rename(s.registry_dist)
    shutil.rmtree(staging, ignore_errors=True)
    return jar


def _data_dir(s: Settings) -> Path:
    return s.state_dir / "registry"


def _markers(s: Settings) -> list[str]:
    return [f"-Dstack.registry.data={_data_dir(s)}", "-jar"]


def running_pid(s: Settings) -> int | None:
    return procs.read_pid(s.pid_file("registry"), _markers(s))


def answers(s: Settings, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url(s) + "/subjects", timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def start(s: Settings, quiet: bool = False, wait: bool = True) -> int:
    """Start the registry unless it runs; return its pid (once it answers, if `wait`)."""
    pid = running_pid(s)
    if pid is None:
        java_bin = java()
        procs.require_free(HOST, s.registry_port, "the schema registry", "STACK_REGISTRY_PORT")
        procs.require_free(HOST, s.registry_management_port, "the schema registry's management "
                           "interface", "STACK_REGISTRY_MANAGEMENT_PORT")
        jar = ensure_dist(s, quiet=quiet)
        _data_dir(s).mkdir(parents=True, exist_ok=True)
        env = {**os.environ,
               "QUARKUS_HTTP_HOST": HOST, "QUARKUS_HTTP_PORT": str(s.registry_port),
               "QUARKUS_MANAGEMENT_HOST": HOST,
               "QUARKUS_MANAGEMENT_PORT": str(s.registry_management_port),
               "APICURIO_STORAGE_KIND": "sql", "APICURIO_STORAGE_SQL_KIND": "h2",
               "APICURIO_DATASOURCE_URL": f"jdbc:h2:file:{_data_dir(s) / 'registry'}",
               "QUARKUS_HTTP_ACCESS_LOG_ENABLED": "false"}
        argv = [java_bin, *JVM_OPTS, f"-Dstack.registry.data={_data_dir(s)}", "-jar", str(jar)]
        pid = procs.spawn(argv, s.logs_dir / "registry.log", cwd=s.state_dir, env=env)
        procs.write_pid(s.pid_file("registry"), pid)
    if wait:
        wait_ready(s, pid)
    return pid


def wait_ready(s: Settings, pid: int, timeout: float = READY_TIMEOUT) -> None:
    """Wait until the Confluent API answers, then make BACKWARD the global compatibility."""
    deadline = time.monotonic() + timeout
    log = s.logs_dir / "registry.log"
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            s.pid_file("registry").unlink(missing_ok=True)
            raise StackError(f"The schema registry exited during startup. Last lines of {log}:\n"
                             f"{procs.log_tail(log)}")
        if answers(s):
            _set_compatibility(s, "BACKWARD")
            return
        time.sleep(0.5)
    raise StackError(f"The schema registry did not answer on {url(s)} within {timeout:.0f} s; "
                     f"see {log}.")


def _set_compatibility(s: Settings, level: str) -> None:
    req = urllib.request.Request(url(s) + "/config", method="PUT",
                                 data=json.dumps({"compatibility": level}).encode(),
                                 headers={"Content-Type": JSON_TYPE})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def stop(s: Settings) -> bool:
    """Stop the registry (SIGTERM, then SIGKILL after STOP_GRACE s). True if it ran."""
    return procs.stop_recorded(s.pid_file("registry"), _markers(s), STOP_GRACE)
