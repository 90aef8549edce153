"""Run by the Airflow engine's python: `dag.test()` of the DAGs a JSON plan names, all in ONE
process, and a JSON report of each run: task states and tries, XCom results and emitted asset events.

    python run_dags.py PLAN.json REPORT.json

PLAN: [{"folder", "dag_id", "cwd", "sys_path": [...], "env": {...}, "mark_success": regex|null,
        "conf": {...}|null, "logical_date": ISO text|null}]
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback


def run_one(spec: dict) -> dict:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    os.environ.update(spec.get("env", {}))   # before parsing: a DAG finds its bundle ($MLC_BUNDLE) then
    bag = DagBag(dag_folder=spec["folder"])
    if bag.import_errors:
        return {"error": f"import errors: {bag.import_errors}"}
    dag = bag.dags[spec["dag_id"]]
    os.makedirs(spec["cwd"], exist_ok=True)
    os.chdir(spec["cwd"])
    for p in spec.get("sys_path", []):
        if p not in sys.path:
            sys.path.insert(0, p)
    logical = spec.get("logical_date")
    if logical is not None:
        from datetime import datetime

        logical = datetime.fromisoformat(logical)
    dr = dag.test(mark_success_pattern=spec.get("mark_success"), run_conf=spec.get("conf"), logical_date=logical)
    out = {"state": str(dr.state), "run_id": dr.run_id, "tasks": {}, "tries": {}, "events": []}
    with create_session() as session:
        for ti in dr.get_task_instances(session=session):
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            out["tasks"][key] = str(ti.state)
            out["tries"][key] = ti.try_number
        events = session.query(AssetEvent).filter(AssetEvent.source_dag_id == dag.dag_id,
                                                  AssetEvent.source_run_id == dr.run_id).all()
        for e in events:
            out["events"].append({"asset": e.asset.name, "extra": e.extra, "task_id": e.source_task_id})
    return out


class _Tee(io.TextIOBase):
    def __init__(self, out) -> None:
        self.out, self.text = out, io.StringIO()

    def write(self, data: str) -> int:
        self.text.write(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def main() -> None:
    plan_path, report_path = sys.argv[1], sys.argv[2]
    with open(plan_path) as f:
        plan = json.load(f)
    home = os.getcwd()
    report = {}
    for spec in plan:
        printed = _Tee(sys.stdout)   # what the run's tasks print, kept with its report
        try:
            with contextlib.redirect_stdout(printed):
                report[spec["name"]] = run_one(spec)
        except Exception:
            report[spec["name"]] = {"error": traceback.format_exc()}
        report[spec["name"]]["printed"] = printed.text.getvalue()[-200000:]
        os.chdir(home)
    with open(report_path, "w") as f:
        json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    main()
