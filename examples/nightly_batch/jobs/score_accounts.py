"""Spark job of step `score` (flow `score_accounts`), run once per region.

Reads the offline snapshot of `account_health`, applies the churn model's
weights and writes one scored partition per region.

    spark-submit jobs/score_accounts.py --region us --threshold 0.7 \
        --model build/artifacts/churn_model/model.json \
        --features build/s3/features/account_health --output build/churn_scores
"""

from __future__ import annotations

import argparse
import json
import os


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--region", default=os.environ.get("REGION"), required=os.environ.get("REGION") is None)
    p.add_argument("--threshold", type=float, default=float(os.environ.get("THRESHOLD", "0.7")))
    p.add_argument("--model", default=os.environ.get("CHURN_MODEL", "build/artifacts/churn_model/model.json"))
    p.add_argument("--features", default=os.environ.get("FEATURES_PATH", "build/s3/features/account_health"))
    p.add_argument("--output", default=os.environ.get("SCORES_PATH", "build/churn_scores"))
    args, _ = p.parse_known_args(argv)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    with open(args.model) as f:
        model = json.load(f)

    from pyspark.sql import SparkSession, functions as F

    spark = SparkSession.builder.appName(f"score_accounts.score[{args.region}]").getOrCreate()
    accounts = spark.read.parquet(args.features)
    if "region" in accounts.columns:
        accounts = accounts.where(F.col("region") == args.region)

    z = F.lit(float(model["bias"]))
    for name, weight in zip(model["features"], model["weights"]):
        if name in accounts.columns:
            z = z + F.coalesce(F.col(name).cast("double"), F.lit(0.0)) * F.lit(float(weight))
    scored = (
        accounts.select("account_id", (F.lit(1.0) / (F.lit(1.0) + F.exp(-z))).alias("churn_probability"))
        .withColumn("at_risk", F.col("churn_probability") >= args.threshold)
        .withColumn("region", F.lit(args.region))
        .withColumn("model_version", F.lit(model.get("version", "unknown")))
    )
    scored.write.mode("overwrite").parquet(f"{args.output}/region={args.region}")
    print(f"scored region {args.region} -> {args.output}/region={args.region}")
    spark.stop()


if __name__ == "__main__":
    main()
