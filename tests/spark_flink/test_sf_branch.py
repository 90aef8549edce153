"""A user's Spark step launched on a test branch (`mlc compile --branch`), on real Spark: its
artifact, the root it writes under and the feature tables it is told of are the branch's, and
nothing lands where production writes. The launcher runs as `__main__` in the session's worker."""

from __future__ import annotations

import json
import subprocess
import sys

from sf_support import ROOT, copy_project

BRANCH = "test.alice"

# stands in for jobs/training_set.py: writes a row to each place it is told to write (made absolute:
# the shared worker's JVM has its own working folder) and records what it was told
PROBE = '''
import json, os
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
told = {k: v for k, v in os.environ.items() if k.startswith("MLC_")}
rows = spark.createDataFrame([("m1", 1)], "member_id string, label int")
for var in ("MLC_ARTIFACT_TRAINING_SET", "MLC_OUTPUT_S3"):
    where = told[var] if var == "MLC_ARTIFACT_TRAINING_SET" else told[var] + "/scores"
    rows.write.mode("overwrite").parquet(os.path.abspath(where))
with open("told.json", "w") as f:
    json.dump(told, f)
'''


def test_a_branch_spark_step_writes_below_the_branch_folder(spark, tmp_path):
    project = copy_project(ROOT / "examples" / "recommendations", tmp_path / "project")
    (project / "jobs" / "training_set.py").write_text(PROBE)
    build = tmp_path / "build"
    done = subprocess.run([sys.executable, "-m", "mlc", "compile", "--env", "local", "--out", str(build),
                           "--target", "spark", "--branch", BRANCH, "--no-cache"],
                          cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    spark.call(cmd="script", file=str(build / "spark/steps/build_training_set/snapshot.py"), argv=[], cwd=str(project))
    told = json.loads((project / "told.json").read_text())
    assert told["MLC_BRANCH"] == BRANCH and told["MLC_BINDING_HIVE"] == "data/warehouse"
    here = project / "branches" / BRANCH / "build" / "s3"
    assert told["MLC_FEATURES_TITLE_POPULARITY"] == f"branches/{BRANCH}/build/s3/features/title_popularity"
    assert list((here / "datasets" / "training_set").glob("*.parquet"))
    assert list((here / "scores").glob("*.parquet"))
    assert not (project / "build").exists()   # production's root: untouched
