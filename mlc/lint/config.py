"""`mlc lint` settings: `[lint]` in mlc.toml, or `[tool.mlc.lint]` in pyproject.toml.

```toml
[lint]
select = ["ALL"]                       # codes or prefixes (`W04`, `W`); default: every code
ignore = ["W0412"]                     # codes or prefixes, never reported
baseline = "mlc-baseline.json"         # findings accepted for now (relative to this file)

[lint.per-file-ignores]
"legacy/*.flow" = ["W04"]              # glob (relative to the project root) -> codes or prefixes

[lint.severity]
W0403 = "error"                        # error | warning | note ("note": shown, never fails)
```

Errors (`E` codes) are the compiler's verdict, not a policy: a program with an error does not
compile. So they cannot be ignored, suppressed, baselined or re-graded; naming one in `ignore`,
`per-file-ignores` or `severity` (other than "error") is a configuration error. `select` may name
them, to no effect.

Precedence for a warning: the most specific of `select` and `ignore` wins (`select = ["W0403"]`
beats `ignore = ["W04"]`; at equal length `ignore` wins); a matching `per-file-ignores` entry
always turns it off; for `severity` the longest matching key wins.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mlc.diagnostics import Severity, did_you_mean
from mlc.lint.registry import REGISTRY

KEYS = ("select", "ignore", "per-file-ignores", "severity", "baseline")
LEVELS = {"error": Severity.ERROR, "warning": Severity.WARNING, "note": Severity.NOTE}


class ConfigError(Exception):
    """A broken `[lint]` table or option: a usage error (exit code 2)."""


@dataclass
class LintConfig:
    select: list[str] = field(default_factory=lambda: ["ALL"])
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    severity: dict[str, Severity] = field(default_factory=dict)
    baseline: Path | None = None
    source: str = "defaults"  # where the settings came from, for messages

    def enabled(self, code: str, rel_path: str | None) -> bool:
        """Whether a finding of `code` in the file `rel_path` (relative to the root) is reported."""
        if is_error_code(code):
            return True
        chosen = _longest(code, self.select)
        if chosen < 0 or _longest(code, self.ignore) >= chosen:
            return False
        if rel_path is not None:
            for pattern, codes in self.per_file_ignores.items():
                if _longest(code, codes) >= 0 and path_matches(rel_path, pattern):
                    return False
        return True

    def severity_of(self, code: str, default: Severity) -> Severity:
        best, level = -1, default
        for selector, sev in self.severity.items():
            n = _match_len(code, selector)
            if n > best:
                best, level = n, sev
        return level


def is_error_code(code: str) -> bool:
    return code.startswith("E")


def _match_len(code: str, selector: str) -> int:
    if selector == "ALL":
        return 0
    return len(selector) if code.startswith(selector) else -1


def _longest(code: str, selectors: list[str]) -> int:
    return max((_match_len(code, s) for s in selectors), default=-1)


def path_matches(rel_path: str, pattern: str) -> bool:
    """fnmatch-style (`*` also matches `/`); a pattern without `/` matches the file's name."""
    pattern = pattern.removeprefix("./")
    if "/" not in pattern:
        return fnmatch.fnmatchcase(PurePosixPath(rel_path).name, pattern)
    return fnmatch.fnmatchcase(rel_path, pattern)


def check_selector(selector: str, where: str, allow_errors: bool) -> str:
    s = selector.strip()
    if s.upper() == "ALL":
        if not allow_errors:
            raise ConfigError(f"{where}: `ALL` would include errors, which cannot be ignored; "
                              "use `W` for every warning")
        return "ALL"
    s = s.upper()
    matches = [c for c in REGISTRY if c.startswith(s)] if s else []
    if not matches:
        hint = did_you_mean(s, REGISTRY) or "see `mlc rule` for every code"
        raise ConfigError(f"{where}: `{selector}` is not a code or a prefix of one; {hint}")
    if not allow_errors and any(is_error_code(c) for c in matches):
        raise ConfigError(f"{where}: `{selector}` names errors, which cannot be ignored or suppressed "
                          "(a program with errors does not compile); only `W` codes can")
    return s


def _codes(value, where: str, allow_errors: bool) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of codes, like [\"W0403\", \"W04\"]")
    return [check_selector(v, where, allow_errors) for v in value]


def parse(table: dict, source: str, base: Path) -> LintConfig:
    """Validates one `[lint]` table; `base` is the folder that relative paths start from."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: `lint` must be a table")
    for key in table:
        if key not in KEYS:
            hint = did_you_mean(key, KEYS) or f"the keys are {', '.join(KEYS)}"
            raise ConfigError(f"{source}: unknown key `{key}` in the lint settings; {hint}")
    cfg = LintConfig(source=source)
    if "select" in table:
        cfg.select = _codes(table["select"], f"{source}: lint.select", allow_errors=True)
    if "ignore" in table:
        cfg.ignore = _codes(table["ignore"], f"{source}: lint.ignore", allow_errors=False)
    pfi = table.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise ConfigError(f"{source}: lint.per-file-ignores must be a table of glob = [codes]")
    for pattern, codes in pfi.items():
        cfg.per_file_ignores[pattern] = _codes(codes, f"{source}: lint.per-file-ignores.\"{pattern}\"",
                                               allow_errors=False)
    sev = table.get("severity", {})
    if not isinstance(sev, dict):
        raise ConfigError(f"{source}: lint.severity must be a table of CODE = \"error\" | \"warning\" | \"note\"")
    for selector, level in sev.items():
        where = f"{source}: lint.severity.{selector}"
        s = check_selector(selector, where, allow_errors=True)
        if not isinstance(level, str) or level.lower() not in LEVELS:
            raise ConfigError(f"{where}: `{level}` is not a severity; use \"error\", \"warning\" or \"note\"")
        level = LEVELS[level.lower()]
        if level is not Severity.ERROR and (s == "ALL" or any(is_error_code(c) for c in REGISTRY
                                                            if c.startswith(s))):
            raise ConfigError(f"{where}: errors cannot be downgraded (a program with errors does not "
                              "compile); only `W` codes can be re-graded")
        cfg.severity[s] = level
    if "baseline" in table:
        if not isinstance(table["baseline"], str) or not table["baseline"]:
            raise ConfigError(f"{source}: lint.baseline must be a file name")
        cfg.baseline = base / table["baseline"]
    return cfg


def load(root: Path, mlc_toml: dict) -> LintConfig:
    """`[lint]` of mlc.toml (already parsed by the project loader), else `[tool.mlc.lint]` of
    pyproject.toml in the project root, else the defaults."""
    if "lint" in mlc_toml:
        return parse(mlc_toml["lint"], str(root / "mlc.toml"), root)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{pyproject}: not valid TOML: {e}") from e
        table = data.get("tool", {}).get("mlc", {}).get("lint")
        if table is not None:
            return parse(table, str(pyproject), root)
    return LintConfig()


def with_cli(cfg: LintConfig, select: list[str], ignore: list[str]) -> LintConfig:
    """`--select` replaces the configured selection; `--ignore` adds to the configured ignores."""
    sel = [s for raw in select for s in raw.split(",") if s.strip()]
    ign = [s for raw in ignore for s in raw.split(",") if s.strip()]
    if sel:
        cfg.select = [check_selector(s, "--select", allow_errors=True) for s in sel]
    if ign:
        cfg.ignore = cfg.ignore + [check_selector(s, "--ignore", allow_errors=False) for s in ign]
    return cfg


def relative_to_root(display: str, root: Path) -> str:
    """A diagnostic's file (as displayed: relative to the current folder) relative to the root."""
    if display.startswith("<"):
        return display
    path = Path(display)
    if not path.is_absolute():
        path = Path(os.getcwd()) / path
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
