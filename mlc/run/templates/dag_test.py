"""Run by the Airflow engine's python (`mlc run`): `dag.test()` of one DAG of the deployed
Airflow home, reporting each task as it starts and ends.

    python dag_test.py DAG_ID EVENTS_FD CONF_JSON

Events are JSON lines written to the file descriptor EVENTS_FD (stdout and stderr carry the
tasks' logs, which the caller keeps in a file): {"event": "start"|"end", "task", "state",
"seconds"} then {"event": "done", "state", "tasks": {task: state}}. Each event is written
after flushing stdout and stderr, so the log file's size at an event is where a task's log
starts or ends.
"""

import json
import os
import sys
import time


def main() -> None:
    dag_id, fd, conf = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    events = os.fdopen(fd, "w", buffering=1)

    def emit(**event):
        sys.stdout.flush()
        sys.stderr.flush()
        events.write(json.dumps(event) + "\n")

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions import dag as sdk_dag
    from airflow.utils.session import create_session

    bag = DagBag()
    if bag.import_errors:
        emit(event="error", message="the deployed DAGs do not load: " + json.dumps(bag.import_errors))
        return
    if dag_id not in bag.dags:
        emit(event="error", message=f"no DAG {dag_id!r} in {bag.dag_folder} (found: {sorted(bag.dags)})")
        return
    run_task = sdk_dag._run_task

    def reporting(*, ti, task, **kwargs):
        # dag.test() runs each task through this module function, one at a time: wrapping it
        # is the one place that sees a task start and end without polling the database
        emit(event="start", task=ti.task_id, map_index=ti.map_index)
        started = time.perf_counter()
        try:
            return run_task(ti=ti, task=task, **kwargs)
        finally:
            with create_session() as session:
                ti.refresh_from_db(session=session)
            emit(event="end", task=ti.task_id, map_index=ti.map_index, state=str(ti.state),
                 seconds=round(time.perf_counter() - started, 2))

    sdk_dag._run_task = reporting
    run = bag.dags[dag_id].test(run_conf=conf or None)
    with create_session() as session:
        tasks = {(ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
                 for ti in run.get_task_instances(session=session)}
    emit(event="done", state=str(run.state), run_id=run.run_id, tasks=tasks)


if __name__ == "__main__":
    main()
