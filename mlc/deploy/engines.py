"""The engine environments: one pinned virtual environment per engine, `ENGINES/NAME`, built
from `engines/NAME.txt` of mlc's checkout by `scripts/engines.sh NAME`, which stamps it with
the SHA-256 of the requirements it was built from (`.requirements.sha256`). An environment
is ready when its Python exists and its stamp matches the requirements file.

Steps that run in an engine find it here, through the deploy environment's `engines`
setting (or `$MLC_ENGINES`), never through a path written into a compiled file.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import mlc

STAMP = ".requirements.sha256"
# engine -> what it runs (doctor's words)
PURPOSE = {"airflow": "the DAGs (DagBag, dag.test, the scheduler)", "spark": "Spark jobs (local[2])",
           "flink": "Flink jobs (mini-cluster) and their Kafka connector jars",
           "serving": "Feast (apply, online reads) and BentoML services",
           "kafka": "a Kafka-protocol broker (Tansu) on 127.0.0.1 and a client, for stream jobs"}
# what an engine needs beside its Python (scripts/engines.sh puts them there): a program of
# its bin/, and the jars of `engines/NAME.jars` in ENGINES/NAME/jars/ (stamped like the env)
PROGRAMS = {"kafka": "tansu"}
KAFKA_JARS = ("flink-connector-kafka.jar", "kafka-clients.jar")
JARS = {"flink": KAFKA_JARS}


@dataclass(frozen=True)
class Engine:
    name: str
    folder: Path
    requirements: Path
    state: str  # ready, missing, stale (built from other requirements), broken (no python)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"


def program(engines: Path, name: str, program: str = "python") -> Path:
    """A program of the engine environment `name` (`ENGINES/NAME/bin/PROGRAM`)."""
    return engines / name / "bin" / program


def checkout(engines: Path) -> Path:
    """The mlc checkout the engine environments are built from (`engines/NAME.txt`,
    `scripts/engines.sh`): the folder holding `engines`, else mlc's own source folder."""
    for folder in (engines.parent, Path(mlc.__file__).resolve().parent.parent):
        if (folder / "engines").is_dir() and (folder / "scripts" / "engines.sh").is_file():
            return folder
    return engines.parent


def install_command(engines: Path, names: list[str]) -> str:
    return f"bash {checkout(engines) / 'scripts' / 'engines.sh'} {' '.join(names)}".rstrip()


def status(engines: Path, name: str) -> Engine:
    req = checkout(engines) / "engines" / f"{name}.txt"
    folder = engines / name
    if not folder.is_dir():
        return Engine(name, folder, req, "missing")
    if not program(engines, name).exists():
        return Engine(name, folder, req, "broken")
    stamp = folder / STAMP
    want = hashlib.sha256(req.read_bytes()).hexdigest() if req.is_file() else None
    if not stamp.is_file() or stamp.read_text().strip() != want:
        return Engine(name, folder, req, "stale")
    if name in PROGRAMS and not program(engines, name, PROGRAMS[name]).exists():
        return Engine(name, folder, req, "stale")
    jars_req = req.with_suffix(".jars")
    if jars_req.is_file():
        jar_stamp = folder / "jars" / STAMP
        if not jar_stamp.is_file() or jar_stamp.read_text().strip() != hashlib.sha256(jars_req.read_bytes()).hexdigest() \
                or not all(p.is_file() for p in jars(engines, name)):
            return Engine(name, folder, req, "stale")
    return Engine(name, folder, req, "ready")


def jars(engines: Path, name: str) -> list[Path]:
    """The jars of engine `name` (`ENGINES/NAME/jars/`): the Flink engine's Kafka connector."""
    return [engines / name / "jars" / jar for jar in JARS.get(name, ())]


def names(engines: Path) -> list[str]:
    return sorted(p.stem for p in (checkout(engines) / "engines").glob("*.txt"))


def require(engines: Path, name: str, target: str) -> Engine:
    """The engine `name` that `target`'s applier runs in, or an error saying how to install it."""
    from mlc.deploy.apply import ApplyError

    e = status(engines, name)
    if not e.ready:
        raise ApplyError(target, None, f"the `{name}` engine environment at {e.folder} is {e.state}",
                         help=f"install it: {install_command(engines, [name])}")
    return e


def java() -> str | None:
    """The `java` Spark and Flink need, or None."""
    return shutil.which("java")


# Debian programs the monitoring target's users and tests run (scripts/setup.sh installs them):
# program -> (Debian package, what it is for)
MONITORING = {"promtool": ("prometheus", "checks and unit-tests the generated rules"),
              "prometheus": ("prometheus", "the server that evaluates them"),
              "prometheus-pushgateway": ("prometheus-pushgateway", "receives the jobs' and flows' pushes")}


def monitoring() -> list[tuple[str, str | None, str, str]]:
    """(program, its path or None, Debian package, purpose) of each monitoring program."""
    return [(name, shutil.which(name), pkg, why) for name, (pkg, why) in MONITORING.items()]
