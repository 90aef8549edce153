"""Spark job of step `snapshot` (flow `build_training_set`).

Takes the last `--lookback` days of plays, labels a (member, title) pair as
engaged when it was watched for at least ten minutes, samples it and writes
the training set as Parquet, partitioned by `ds`: artifact `training_set`, whose
location the run passes in $MLC_ARTIFACT_TRAINING_SET (the step `writes training_set`;
the path is never spelled here).

    spark-submit jobs/training_set.py --lookback 28d --sample-rate 0.1 \
        --plays data/warehouse/plays --output build/training_set
"""

from __future__ import annotations

import argparse
import os
import re

_UNITS = {"d": 1, "w": 7}


def lookback_days(text: str) -> int:
    """'28d' -> 28, '4w' -> 28, '2w3d' -> 17 (whole days only)."""
    parts = re.findall(r"(\d+)([dw])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise SystemExit(f"--lookback must be whole days or weeks, like 28d or 4w (got {text!r})")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lookback", default=os.environ.get("LOOKBACK", "28d"))
    p.add_argument("--sample-rate", "--sample_rate", dest="sample_rate", type=float,
                   default=float(os.environ.get("SAMPLE_RATE", "0.1")))
    p.add_argument("--plays", default=os.environ.get("PLAYS_PATH", "data/warehouse/plays"))
    p.add_argument("--format", default="parquet", help="format of --plays (parquet, json, csv)")
    p.add_argument("--output", default=os.environ.get("MLC_ARTIFACT_TRAINING_SET", "build/training_set"))
    args, _ = p.parse_known_args(argv)   # the orchestrator may pass more than this job reads
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    days = lookback_days(args.lookback)

    from pyspark.sql import SparkSession, functions as F

    spark = SparkSession.builder.appName("build_training_set.snapshot").getOrCreate()
    reader = spark.read.option("header", "true") if args.format == "csv" else spark.read
    plays = reader.format(args.format).load(args.plays)

    recent = plays.where(F.col("ds") >= F.date_sub(F.current_date(), days))
    pairs = (
        recent.groupBy("member_id", "title_id")
        .agg(F.sum("seconds").alias("seconds"), F.max("ds").alias("ds"))
        .withColumn("label", (F.col("seconds") >= 600).cast("int"))
        .sample(fraction=args.sample_rate, seed=17)
    )
    # Spark's S3 filesystem is s3a; the artifact's location is the plain s3:// address
    output = "s3a://" + args.output[len("s3://"):] if args.output.startswith("s3://") else args.output
    pairs.write.mode("overwrite").partitionBy("ds").parquet(output)
    print(f"training set: {pairs.count()} rows from the last {days} days -> {args.output}")
    spark.stop()


if __name__ == "__main__":
    main()
