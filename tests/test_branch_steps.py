"""What a user's Spark step receives on a test branch (`mlc compile --branch`): every location it
may write (the roots of files/s3 bindings, feature tables, its artifacts) is the branch's own, what
it reads through a binding stays production's, and the launcher's values are the DAG's (one
computation, in the layout). The production values are read from the unbranched bundle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlc.compiler.project import load_project
from mlc.deploy.bundle import compile as compile_bundle

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BRANCH = "test.alice"
WRITTEN = ("MLC_OUTPUT_", "MLC_FEATURES_", "MLC_ARTIFACT_")


def _bundle(example: str, env: str, branch: str | None) -> dict[str, str]:
    compiled = compile_bundle(load_project([str(EXAMPLES / example)]), env, ["airflow", "spark"], use_cache=False,
                              branch=branch)
    assert compiled.ok, [str(d) for d in compiled.result.diagnostics]
    return {a.path: a.text for a in compiled.artifacts}


def _literal(text: str, name: str):
    """The value of the module-level literal `name` (plain or annotated assignment)."""
    for node in ast.parse(text).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if getattr(target, "id", None) == name:
                return ast.literal_eval(node.value)
    raise AssertionError(f"no {name}")


def _spec(text: str) -> dict:
    """The launcher's literal `SPEC`."""
    return _literal(text, "SPEC")


def _launchers(texts: dict[str, str]) -> dict[str, dict]:
    """What each launcher's user step sees: the env's variables, written once in the bundle's
    runtime, under the launcher's own."""
    common = _literal(texts["spark/runtime/mlc_spark_runtime.py"], "ENVIRONMENT")
    return {p: {**common, **_spec(t)["environment"]} for p, t in texts.items() if p.startswith("spark/steps/")}


@pytest.mark.parametrize("example, env", [("recommendations", "local"), ("recommendations", "prod"),
                                          ("nightly_batch", "local")])
def test_a_branch_spark_step_writes_only_below_the_branch(example, env):
    prod, branch = _launchers(_bundle(example, env, None)), _launchers(_bundle(example, env, BRANCH))
    assert prod and set(prod) == set(branch)
    for path, theirs in prod.items():
        ours = branch[path]
        assert set(ours) == set(theirs) | {"MLC_BRANCH"} and ours["MLC_BRANCH"] == BRANCH
        written = {k: v for k, v in ours.items() if k.startswith(WRITTEN)}
        # not vacuous: every launcher has a root to write under and the feature tables
        assert any(k.startswith("MLC_OUTPUT_") for k in written) and any(k.startswith("MLC_FEATURES_") for k in written)
        for key, value in written.items():
            assert f"branches/{BRANCH}" in value and value != theirs[key], (path, key, value)
        # a binding is where inputs are read: the branch reads production's
        assert {k: v for k, v in ours.items() if k.startswith("MLC_BINDING_")} == \
            {k: v for k, v in theirs.items() if k.startswith("MLC_BINDING_")}


def test_the_launcher_and_the_dag_give_a_step_one_artifact_location():
    texts = _bundle("recommendations", "local", BRANCH)
    env = _launchers(texts)["spark/steps/build_training_set/snapshot.py"]
    where = env["MLC_ARTIFACT_TRAINING_SET"]
    assert where == f"branches/{BRANCH}/build/s3/datasets/training_set"
    assert f'"MLC_ARTIFACT_TRAINING_SET": "{where}"' in texts["airflow/dags/build_training_set.py"]


def test_a_spark_step_that_uses_a_model_gets_the_branch_model_names():
    env = _launchers(_bundle("recommendations", "local", BRANCH))["spark/steps/refresh_recommendations/score.py"]
    assert '"ranker": "test.alice.ranker"' in env["MLC_BENTO_MODELS"]


def test_the_env_variables_are_written_once_per_bundle_not_per_launcher():
    """Thousands of steps times thousands of feature tables: each launcher carries only its own."""
    texts = _bundle("recommendations", "local", BRANCH)
    common = _literal(texts["spark/runtime/mlc_spark_runtime.py"], "ENVIRONMENT")
    assert any(k.startswith("MLC_FEATURES_") for k in common) and common["MLC_BRANCH"] == BRANCH
    launchers = [p for p in texts if p.startswith("spark/steps/")]
    assert launchers
    for path in launchers:
        own = _spec(texts[path])["environment"]
        assert not set(own) & set(common), (path, set(own) & set(common))
