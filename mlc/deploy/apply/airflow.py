"""DAG files and plugins into a local Airflow home.

The Airflow home (`ROOT/airflow`, `AIRFLOW_HOME` in `ROOT/deploy.env`) holds two links,
`dags -> ../current/airflow/dags` and `plugins -> ../current/airflow/plugins`: Airflow's
default folders, reached through the `current` pointer, so the release that is current is
the one Airflow parses, and switching the pointer switches every DAG at once. (A release without plugins leaves the
`plugins` link dangling, which Airflow reads as an empty folder.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mlc.deploy.apply import AIRFLOW_HOME, CURRENT, FileApplier, Release
from mlc.targets.layout import Layout

FOLDERS = ("dags", "plugins")


def airflow_home(root: Path) -> Path:
    return root / AIRFLOW_HOME


def ensure_home(root: Path) -> None:
    """Creates the Airflow home's links once (they never change)."""
    home = airflow_home(root)
    home.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        link = home / name
        if not link.is_symlink():
            os.symlink(os.path.join("..", CURRENT, Layout.airflow_folder(name)), link)


class AirflowApplier(FileApplier):
    target = "airflow"
    what = "DAG file"

    def apply(self, changes, release: Release) -> dict:
        super().apply(changes, release)
        ensure_home(release.config.root)
        from mlc.deploy import runtimes

        # the environments of the step runtimes the DAGs name ($MLC_RUNTIMES/<key>)
        made = {Path(path).stem: runtimes.ensure(release.config.root, release.config.engines, Path(path).stem,
                                                 json.loads(text))
                for path, text in sorted(release.texts.items()) if path.startswith(Layout.airflow_folder("runtimes"))}
        return {"runtimes": made} if made else {}


APPLIER = AirflowApplier()
