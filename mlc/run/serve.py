"""`mlc serve MODEL --env local`: the deployed BentoML service of a model, `bentoml serve` from
the serving engine on 127.0.0.1, with deploy.env's variables (the model store, the feature
repository); `mlc predict MODEL k=v ...`: one request to it.

A running server is recorded in `ROOT/serve/MODEL.json` (its URL and pid), which `mlc predict`
reads; the server's output goes to `ROOT/serve/MODEL.log`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from mlc.run import background
from mlc.run.background import free_port
from mlc.run.deployed import Deployed, RunError

READY_WITHIN = 120.0


def service_folder(deployed: Deployed, model: str) -> Path:
    services = {Path(a["path"]).parent.name: a for a in deployed.artifacts("bentoml-service")}
    if model not in services:
        from mlc.diagnostics import did_you_mean

        hint = did_you_mean(model, sorted(services)) or ""
        raise RunError(f"no served model `{model}` in release {deployed.release} "
                       f"(served: {', '.join(sorted(services)) or 'none'}) {hint}".strip())
    return deployed.bundle / Path(services[model]["path"]).parent


def record(deployed: Deployed, model: str) -> Path:
    return deployed.config.root / "serve" / f"{model}.json"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def serve(deployed: Deployed, model: str, port: int | None, on_ready: Callable[[str], None]) -> int:
    """Serves `model` until the server exits or this process is stopped (SIGINT/SIGTERM stop
    the server's whole process group: its workers too). Returns the exit status."""
    folder = service_folder(deployed, model)
    bentoml = deployed.engine("serving", "bentoml")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = record(deployed, model).with_suffix(".log")
    log.unlink(missing_ok=True)  # the traceback test below reads this server's output only
    proc = background.start([str(bentoml), "serve", "service:Service", "--host", "127.0.0.1", "--port", str(port)],
                            deployed.process_env(), log, folder)

    def wait_ready() -> None:
        deadline = time.monotonic() + READY_WITHIN
        while not _ready(url):
            # a service whose set-up raised keeps the server up, restarting its worker: stop at once
            if proc.poll() is not None or "Traceback (most recent call last)" in log.read_text(errors="replace"):
                raise RunError(f"bentoml serve of `{model}` failed:\n" + background.tail(log),
                               help="has the model been trained? mlc run the flow that produces it")
            if time.monotonic() > deadline:
                raise RunError(f"bentoml serve of `{model}` not ready in {READY_WITHIN:.0f}s:\n" + background.tail(log))
            time.sleep(0.3)

    return background.hold(proc, record(deployed, model), {"url": url, "log": str(log)}, wait_ready,
                           lambda: on_ready(url))


def parse_inputs(pairs: list[str]) -> dict:
    """`key=text` is a string, `key:=JSON` a number, boolean or other JSON value (as httpie)."""
    inputs: dict = {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key.rstrip(":"):
            raise RunError(f"`{pair}`: write key=text or key:=JSON")
        if key.endswith(":"):
            try:
                inputs[key[:-1]] = json.loads(raw)
            except ValueError as e:
                raise RunError(f"`{pair}`: {raw!r} is not JSON",
                               help="write key:=42 for a number, key=text for text") from e
        else:
            inputs[key] = raw
    return inputs


def predict(deployed: Deployed, model: str, inputs: dict, url: str | None = None,
            wait: float = 0.0) -> tuple[int, object]:
    """Posts one request to the running server of `model` (or `url`); waits up to `wait`
    seconds for a server that is starting. Returns (HTTP status, answer)."""
    deadline = time.monotonic() + wait
    while url is None:
        try:
            url = json.loads(record(deployed, model).read_text())["url"]
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise RunError(f"`{model}` is not being served", help=f"start it: mlc serve {model} --env "
                               f"{deployed.config.env}") from None
            time.sleep(0.5)
    body = json.dumps({"inputs": inputs}).encode()
    request = urllib.request.Request(url + "/predict", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except OSError as e:
        raise RunError(f"cannot reach `{model}` at {url}: {e}") from e


def render(answer: dict) -> str:
    """One line: the path (model or fallback) and reason first, then the output, the
    confidence and who answered; `detail` (why the fallback answered) on its own line."""
    first = ["path", "reason"]
    rest = [k for k in sorted(answer) if k not in first and k != "detail" and answer[k] is not None]

    def value(v: object) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    line = "  ".join(f"{k}={value(answer[k])}" for k in first + rest if k in answer)
    return line + (f"\n  detail: {answer['detail']}" if answer.get("detail") else "")
