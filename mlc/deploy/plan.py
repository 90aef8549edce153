"""What a deploy would do: the compiled bundle's `manifest.json` against the deployed one.

An artifact is added when the deployed manifest lacks its path, changed when its SHA-256
differs, removed when only the deployed manifest has it; the bundle's own files
(`manifest.json`, `ir.json`) are not deployable and never listed. Changes are grouped
by the target that owns them, which is how the appliers receive them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

ADD, CHANGE, REMOVE = "add", "change", "remove"
SYMBOLS = {ADD: "+", CHANGE: "~", REMOVE: "-"}
FORMAT = "mlc-plan/1"


@dataclass(frozen=True)
class Change:
    action: str  # add, change, remove
    path: str
    kind: str
    target: str
    source: str | None = None  # the declaration it came from


@dataclass
class Plan:
    env: str
    where: str
    deployed: str | None  # the release deployed now (None: nothing yet)
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not self.changes

    def by_target(self) -> dict[str, list[Change]]:
        out: dict[str, list[Change]] = {}
        for c in self.changes:
            out.setdefault(c.target, []).append(c)
        return dict(sorted(out.items()))

    def count(self, action: str) -> int:
        return sum(c.action == action for c in self.changes)

    def summary(self) -> str:
        if self.empty:
            return f"No changes. {self.where} is up to date ({self.unchanged} artifacts)."
        return (f"Plan: {self.count(ADD)} to add, {self.count(CHANGE)} to change, "
                f"{self.count(REMOVE)} to remove ({self.unchanged} unchanged).")


def _deployable(manifest: dict | None) -> dict[str, dict]:
    if not manifest:
        return {}
    return {a["path"]: a for a in manifest.get("artifacts", ()) if a.get("target")}


def diff(compiled: dict, deployed: dict | None, env: str, where: str, release: str | None) -> Plan:
    new, old = _deployable(compiled), _deployable(deployed)
    plan = Plan(env, where, release)
    for path in sorted(new.keys() | old.keys()):
        a, b = new.get(path), old.get(path)
        if a is not None and b is not None and a["sha256"] == b["sha256"]:
            plan.unchanged += 1
            continue
        action = ADD if b is None else REMOVE if a is None else CHANGE
        entry = a if a is not None else b
        plan.changes.append(Change(action, path, entry["kind"], entry["target"],
                                   (entry.get("source") or {}).get("name")))
    return plan


def render_text(plan: Plan, notes: dict[str, list[str]] | None = None) -> str:
    """terraform-style: the changes grouped by target (with what each target's applier will
    do, `notes`), then one summary line."""
    head = (f"mlc plan: env `{plan.env}` -> {plan.where} "
            f"(deployed: {'release ' + plan.deployed if plan.deployed else 'nothing yet'})\n")
    if plan.empty:
        return head + "\n" + plan.summary() + "\n"
    lines = [head]
    for target, changes in plan.by_target().items():
        counts = ", ".join(f"{n} {a}" for a in (ADD, CHANGE, REMOVE) if (n := sum(c.action == a for c in changes)))
        lines.append(f"  {target} ({counts})")
        lines += [f"    # {n}" for n in (notes or {}).get(target, ())]
        for c in changes:
            src = f"  <- {c.source}" if c.source else ""
            lines.append(f"    {SYMBOLS[c.action]} {c.path}  [{c.kind}]{src}")
        lines.append("")
    lines.append(plan.summary())
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    doc = {"format": FORMAT, "env": plan.env, "where": plan.where, "deployed": plan.deployed,
           "changes": [{"action": c.action, "path": c.path, "kind": c.kind, "target": c.target,
                        "source": c.source} for c in plan.changes],
           "summary": {ADD: plan.count(ADD), CHANGE: plan.count(CHANGE), REMOVE: plan.count(REMOVE),
                       "unchanged": plan.unchanged}}
    return json.dumps(doc, indent=2) + "\n"
