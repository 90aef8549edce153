"""`MLC_BENTO_MODELS`, the models' names in the BentoML store that a step which trains or uses a
model receives, names only that step's models and what they fall back to: a platform of hundreds
of models must not put every name into every such step's environment (DAG and Spark launcher)."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

from mlc.compiler.project import load_project
from mlc.deploy.bundle import compile as compile_bundle

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "recommendations"
UNRELATED = """
model spare_titles deterministic {
  framework rule
  inputs [title_popularity.plays_7d]
  output score: float
  owner "discovery"
}
"""


def _stored(text: str) -> list[dict]:
    """Every MLC_BENTO_MODELS value a generated file sets, decoded."""
    found = re.findall(r'"MLC_BENTO_MODELS": ("(?:[^"\\]|\\.)*")', text)
    return [json.loads(ast.literal_eval(v)) for v in found]


def test_a_step_gets_its_models_and_their_fallbacks_only(tmp_path):
    project = tmp_path / "recommendations"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlc_cache", "build"))
    models = project / "models.flow"
    models.write_text(models.read_text() + UNRELATED)
    compiled = compile_bundle(load_project([str(project)]), "local", ["airflow", "spark"], use_cache=False)
    assert compiled.ok, [str(d) for d in compiled.result.diagnostics]
    texts = {a.path: a.text for a in compiled.artifacts}
    train = [s for p, t in texts.items() if p in ("airflow/dags/train_ranker.py",) for s in _stored(t)]
    score = [s for p, t in texts.items() if p.startswith("spark/steps/refresh_recommendations/") for s in _stored(t)]
    # the ranker's steps: the ranker and popular_titles, its fallback; never the unrelated model
    assert train and all(s == {"popular_titles": "popular_titles", "ranker": "ranker"} for s in train), train
    assert score and all(s == {"popular_titles": "popular_titles", "ranker": "ranker"} for s in score), score
    assert not any("spare_titles" in s for t in texts.values() for s in _stored(t))
