"""Test namespaces: `mlc compile --branch test.alice` compiles a deployment that can run beside
production and never touch it.

The branch is a fact of the program (`ir.Program.branch`), set here once and read by every
backend through `mlc.targets.layout.Layout` (`branched`, `branched_uri`,
`artifact_location`): DAG ids, the assets of flows, signals, feature groups and artifacts,
and artifact locations get the branch; signals declared `external` keep their addresses, so
that a test deployment still hears the real events it waits for.
"""

from __future__ import annotations

import re

from mlc.compiler import ir
from mlc.diagnostics import Diagnostic, error

# lower-case words joined by `.`, `_` or `-`: what a DAG id, an asset name and a folder all take
BRANCH_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", re.ASCII)
MAX_BRANCH = 64  # a branched DAG id must stay within Airflow's 250 characters


def check_branch(name: str) -> Diagnostic | None:
    """E0426 when `name` cannot name a test namespace."""
    if len(name) <= MAX_BRANCH and BRANCH_RE.fullmatch(name):
        return None
    return error("E0426", f"`{name[:80]}` cannot name a branch: lower-case letters and digits, words joined by "
                          f"`.`, `_` or `-`, at most {MAX_BRANCH} characters", None,
                 help="for example `--branch test.alice` or `--branch pr-1234`",
                 notes=("the branch prefixes DAG ids and asset names, and names the folder of the test "
                        "deployment's artifacts",))


def on_branch(program: ir.Program, branch: str | None) -> ir.Program:
    """The program compiled for `branch` (None: production, the program as it is)."""
    return program if branch is None else program.model_copy(update={"branch": branch})
