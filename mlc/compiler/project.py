"""Finding a project's files and its settings (`mlc.toml`)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = "mlc.toml"
SOURCE_SUFFIXES = (".flow", ".flow.yaml", ".flow.yml")
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist", ".mlc_cache"}


class ProjectError(Exception):
    """A usage problem: no project here, a path that does not exist, a broken mlc.toml."""


@dataclass
class Project:
    root: Path
    files: list[Path]
    config: dict = field(default_factory=dict)
    _cwd: str | None = field(default=None, repr=False)
    # processes that parse and lower its files (`--jobs`); None: every core, for a project
    # large enough to gain from it (mlc.compiler.parallel)
    jobs: int | None = None

    def display(self, path: Path) -> str:
        """The path shown in diagnostics: relative to the current folder when inside it."""
        if self._cwd is None:
            self._cwd = os.getcwd() + os.sep
        text = str(path)
        return text[len(self._cwd):] if text.startswith(self._cwd) else text

    def rooted(self) -> Project:
        """The same project, its files shown relative to its root whatever the current folder:
        what is compiled must not depend on where mlc was started."""
        return Project(self.root, self.files, self.config, str(self.root.resolve()) + os.sep, self.jobs)

    @property
    def name(self) -> str:
        return self.config.get("project", {}).get("name", self.root.name)


def _load_config(root: Path) -> dict:
    cfg = root / CONFIG_FILE
    if not cfg.is_file():
        return {}
    try:
        return tomllib.loads(cfg.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ProjectError(f"{cfg}: not valid TOML: {e}") from e


def _walk(folder: Path, exclude: list[str]) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        # pruned in place, so that os.walk never enters them (.mlc_cache holds thousands of files)
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            p = Path(dirpath, name)
            if exclude and any(p.relative_to(folder).match(pattern) for pattern in exclude):
                continue
            if p.is_file():  # not a broken link or a fifo
                found.append(p)
    return found


def find_root(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


def load_project(paths: tuple[str, ...] | list[str]) -> Project:
    """The files to compile. No paths: the project in the current folder (one with mlc.toml)."""
    if not paths:
        root = find_root(Path.cwd())
        if root is None:
            raise ProjectError(f"no {CONFIG_FILE} in this folder or above it; "
                               "pass the .flow files or folders to check, or run `mlc init`")
        paths = [str(root)]
    files: list[Path] = []
    root: Path | None = None
    config: dict = {}
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise ProjectError(f"no such file or folder: {raw}")
        if p.is_dir():
            cfg = _load_config(p)
            if root is None:
                root, config = p, cfg
            project = cfg.get("project", {})
            folders = [p / s for s in project.get("sources", ["."])]
            for folder in folders:
                files.extend(_walk(folder, list(project.get("exclude", []))))
        else:
            if root is None:
                root = find_root(p.parent.resolve()) or p.parent
                config = _load_config(root)
            files.append(p)
    unique = sorted(dict.fromkeys(f.resolve() for f in files))
    return Project(root=root or Path.cwd(), files=unique, config=config)
