"""Spark job of step `score` (flow `refresh_recommendations`).

Scores every (member, title) pair of the feature snapshot with the ranker's
published artifact (a JSON file of weights) and keeps each member's top K.

    spark-submit jobs/batch_scores.py --model build/artifacts/ranker/model.json \
        --features build/s3/features/ranking_snapshot --top-k 50 --output build/recommendations
"""

from __future__ import annotations

import argparse
import json
import os


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.environ.get("RANKER_MODEL", "build/artifacts/ranker/model.json"))
    p.add_argument("--features", default=os.environ.get("FEATURES_PATH", "build/s3/features/ranking_snapshot"))
    p.add_argument("--top-k", "--top_k", dest="top_k", type=int, default=int(os.environ.get("TOP_K", "50")))
    p.add_argument("--output", default=os.environ.get("SCORES_PATH", "build/recommendations"))
    args, _ = p.parse_known_args(argv)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    with open(args.model) as f:
        model = json.load(f)

    from pyspark.sql import SparkSession, Window, functions as F

    spark = SparkSession.builder.appName("refresh_recommendations.score").getOrCreate()
    rows = spark.read.parquet(args.features)

    # Linear score over the features the artifact names; a missing value counts as 0.
    z = F.lit(float(model["bias"]))
    for name, weight in zip(model["features"], model["weights"]):
        value = F.coalesce(F.col(name).cast("double"), F.lit(0.0)) if name in rows.columns else F.lit(0.0)
        z = z + value * F.lit(float(weight))
    scored = rows.select("member_id", "title_id", (F.lit(1.0) / (F.lit(1.0) + F.exp(-z))).alias("score"))

    best_first = Window.partitionBy("member_id").orderBy(F.col("score").desc(), F.col("title_id"))
    top = (
        scored.withColumn("rank", F.row_number().over(best_first))
        .where(F.col("rank") <= args.top_k)
        .withColumn("model_version", F.lit(model.get("version", "unknown")))
    )
    top.write.mode("overwrite").parquet(args.output)
    print(f"wrote top {args.top_k} titles per member -> {args.output}")
    spark.stop()


if __name__ == "__main__":
    main()
