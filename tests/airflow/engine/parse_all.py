"""Run by the Airflow engine's python: fills a DagBag from each folder given, in ONE process
(`import airflow` costs seconds), serialises every DAG, and writes a JSON report.

    python parse_all.py REPORT.json FOLDER...
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    report_path, folders = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    report = {"import_seconds": time.perf_counter() - t0, "folders": {}}
    for folder in folders:
        t = time.perf_counter()
        bag = DagBag(dag_folder=folder, known_pools={"default_pool"})
        fill = time.perf_counter() - t
        dags = {}
        for dag_id, dag in sorted(bag.dags.items()):
            entry = {"file": dag.fileloc, "tasks": sorted(dag.task_ids), "owner": dag.owner,
                     "tags": sorted(dag.tags or []), "doc_md": dag.doc_md, "schedule": repr(dag.timetable),
                     "catchup": dag.catchup, "start_date": dag.start_date.isoformat() if dag.start_date else None,
                     "end_date": dag.end_date.isoformat() if dag.end_date else None,
                     "max_active_runs": dag.max_active_runs}
            try:
                data = DagSerialization.to_dict(dag)
                back = DagSerialization.from_dict(data)
                entry["serialised"] = sorted(back.task_ids) == sorted(dag.task_ids)
                entry["params"] = {k: v for k, v in dag.params.dump().items()}
                entry["deadline"] = bool(getattr(dag, "deadline", None))
                entry["task_facts"] = {
                    t.task_id: {"retries": t.retries, "execution_timeout": t.execution_timeout.total_seconds()
                                if t.execution_timeout else None, "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                                "outlets": [getattr(o, "name", str(o)) for o in (t.outlets or [])],
                                "inlets": [getattr(o, "name", str(o)) for o in (t.inlets or [])],
                                "executor_config": json.loads(json.dumps(t.executor_config, default=str)),
                                "operator": type(t).__name__, "owner": t.owner,
                                "upstream": sorted(t.upstream_task_ids)}
                    for t in dag.tasks}
            except Exception as e:  # reported, and the test fails on it
                entry["serialised"] = False
                entry["serialisation_error"] = f"{type(e).__name__}: {e}"
            dags[dag_id] = entry
        report["folders"][folder] = {
            "fill_seconds": fill,
            "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
            "captured_warnings": {k: [str(w) for w in v] for k, v in bag.captured_warnings.items()},
            "dag_warnings": sorted(str(w.message) for w in bag.dag_warnings),
            "dags": dags,
        }
    with open(report_path, "w") as f:
        json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    main()
