"""What a release keeps of the program for the commands that talk to it later: each signal's
declaration (its fields and their types) and each flow's params, in `Layout.declarations()`
(`airflow/declarations.json`; `declarations.json` beside `dags/` in an S3 release).

`mlc signal` and `mlc trigger` type a payload against these — the declarations of what runs —
rather than against the project's source, which may have changed since the deploy; where
source and release differ they say so (`compare`). The file is an artifact of the deploy (the
Airflow target's, added by `mlc.deploy.release.prepare`), so a changed signal or param shows in
`mlc plan` and makes a release like any changed file. Locations are left out: moving a
declaration is no change to what runs (the source's locations are put back for diagnostics).
"""

from __future__ import annotations

import hashlib
import json

from mlc.compiler import ir
from mlc.targets.layout import Layout

FORMAT = "mlc-declarations/1"
KIND = "declarations"
_LOCS = ("loc", "uri_loc")


def _bare(value):
    """A model dump without its source locations."""
    if isinstance(value, dict):
        return {k: _bare(v) for k, v in value.items() if k not in _LOCS}
    if isinstance(value, list):
        return [_bare(v) for v in value]
    return value


def signal_dump(signal: ir.Signal) -> dict:
    return _bare(signal.model_dump(mode="json"))


def params_dump(flow: ir.Flow) -> list[dict]:
    return [_bare(p.model_dump(mode="json")) for p in flow.params]


def text(program: ir.Program) -> str:
    return json.dumps({"format": FORMAT, "signals": {k: signal_dump(s) for k, s in sorted(program.signals.items())},
                       # flows without params are left out: adding one changes no declaration
                       "flows": {k: {"name": f.name, "params": params_dump(f)}
                                 for k, f in sorted(program.flows.items()) if f.params}},
                      indent=1, sort_keys=True) + "\n"


def add(manifest: dict, texts: dict[str, str], program: ir.Program) -> None:
    """Adds the declarations to a compiled bundle about to be deployed (an Airflow artifact)."""
    path, body = Layout.declarations(), text(program)
    texts[path] = body
    entry = {"path": path, "kind": KIND, "target": "airflow", "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest()}
    manifest["artifacts"] = sorted([*manifest["artifacts"], entry], key=lambda a: a["path"])


def _with_locs(signal: ir.Signal, source: ir.Signal | None) -> ir.Signal:
    """The deployed signal with the source's locations, where the source still declares the
    same field (a diagnostic points at the source's text)."""
    if source is None:
        return signal
    locs = {f.name: f.loc for f in source.fields}
    return signal.model_copy(update={"loc": source.loc, "fields": tuple(
        f.model_copy(update={"loc": locs.get(f.name)}) for f in signal.fields)})


class Deployed:
    """The declarations of one release (`None` fields: a release made before releases kept them)."""

    def __init__(self, data: dict | None, release: str, env: str) -> None:
        self.data, self.release, self.env = data, release, env

    @property
    def where(self) -> str:
        return f"release {self.release} of env `{self.env}`"

    def signal(self, key: str, source: ir.Signal) -> tuple[ir.Signal, str | None]:
        """(the signal to type a payload against, a warning or None): the release's
        declaration; the source's, with a warning, when the release has none of it."""
        if self.data is None:
            return source, (f"{self.where} keeps no declarations (deployed by an older mlc): the payload is typed "
                            "against the source's signal, which may differ from what runs")
        deployed = self.data.get("signals", {}).get(key)
        if deployed is None:
            return source, f"signal `{source.name}` is not in {self.where}: deploy it first"
        if deployed == signal_dump(source):
            return source, None
        signal = _with_locs(ir.Signal.model_validate(deployed), source)
        return signal, (f"signal `{source.name}` differs between the source ({_where(source.loc)}fields "
                        f"{_fields(source.fields)}) and {self.where} (fields {_fields(signal.fields)}): the payload "
                        "is typed against the release, which is what runs; deploy to run the source's")

    def params(self, key: str, flow: ir.Flow) -> tuple[ir.Flow, str | None]:
        """(the flow with the params to type `--conf` against, a warning or None), as `signal`."""
        if self.data is None:
            return flow, (f"{self.where} keeps no declarations (deployed by an older mlc): params are typed "
                          "against the source's flow")
        deployed = self.data.get("flows", {}).get(key, {"params": []})  # kept: the flows with params
        if deployed["params"] == params_dump(flow):
            return flow, None
        locs = {p.name: p.loc for p in flow.params}
        params = tuple(ir.Param.model_validate(p).model_copy(update={"loc": locs.get(p["name"])})
                       for p in deployed["params"])
        return flow.model_copy(update={"params": params}), (
            f"the params of flow `{flow.name}` differ between the source ({_where(flow.loc)}{_fields(flow.params)}) "
            f"and {self.where} ({_fields(params)}): they are typed against the release, which is what runs; "
            "deploy to run the source's")


def _where(loc: ir.Loc | None) -> str:
    return f"{loc.file}:{loc.line}: " if loc is not None else ""


def _fields(fields) -> str:
    from mlc.run.signals import describe

    return ", ".join(f"{f.name}: {describe(f.type)}" for f in fields) or "none"


def read(bundle, release: str, env: str) -> Deployed:
    """The declarations of the release in the folder `bundle` (a local release's `current`)."""
    try:
        data = json.loads((bundle / Layout.declarations()).read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = None
    return Deployed(data, release, env)
