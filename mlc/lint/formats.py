"""How `mlc lint` prints its findings: text, json, sarif, github, junit.

- text: rustc-style, as `mlc check` (to standard error, with a summary line);
- json: the document of `mlc check --format json` (same keys, same `format_version`);
- sarif: SARIF 2.1.0, one run, every registered rule in `tool.driver.rules` (with its docs page
  as help), columns in Unicode code points, `partialFingerprints` from the baseline fingerprint;
- github: workflow commands (`::error file=...,line=...::message`), one per finding;
- junit: one `<testcase>` per linted file (a clean file passes); a file with findings fails with
  one `<failure>` whose text lists them; findings without a file go to a testcase named `mlc`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from mlc import __version__
from mlc.diagnostics import Diagnostic, Severity, render_json, render_text
from mlc.lint.engine import LintReport
from mlc.lint.registry import RULES, Rule, render_page

FORMATS = ("text", "json", "sarif", "github", "junit")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}
_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def render(report: LintReport, fmt: str, color: bool = False) -> str:
    if fmt == "text":
        return render_text(report.diagnostics, report.sources, color=color)
    if fmt == "json":
        return render_json(report.diagnostics) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(report), indent=2, ensure_ascii=False) + "\n"
    if fmt == "github":
        return "".join(line + "\n" for line in to_github(report))
    if fmt == "junit":
        return to_junit(report)
    raise ValueError(f"unknown format {fmt!r}")


# ---------------------------------------------------------------- sarif
def _uri(display: str) -> tuple[str, bool]:
    """A display path as a SARIF URI: relative (to the current folder, %SRCROOT%) when it is."""
    p = Path(display)
    if p.is_absolute():
        return p.as_uri(), False
    return quote(PurePosixPath(*p.parts).as_posix(), safe="/"), True


def _location(span, message: str | None = None, ident: int | None = None) -> dict:
    uri, relative = _uri(span.file)
    artifact = {"uri": uri}
    if relative:
        artifact["uriBaseId"] = "%SRCROOT%"
    loc: dict = {"physicalLocation": {"artifactLocation": artifact, "region": {
        "startLine": span.line, "startColumn": span.col,
        "endLine": max(span.end_line, span.line),
        "endColumn": span.end_col if span.end_line > span.line else max(span.end_col, span.col)}}}
    if ident is not None:
        loc["id"] = ident
    if message:
        loc["message"] = {"text": message}
    return loc


def _sarif_rule(rule: Rule, level: str) -> dict:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.details or rule.summary},
        "help": {"text": f"{rule.summary} See {rule.docs_path}.", "markdown": render_page(rule)},
        "defaultConfiguration": {"level": level},
        "properties": {"docs": rule.docs_path},
    }


def to_sarif(report: LintReport) -> dict:
    rules = [_sarif_rule(r, _SARIF_LEVEL[r.severity]) for r in RULES]
    index = {r.code: i for i, r in enumerate(RULES)}
    for d in report.diagnostics:  # a code not registered yet still gets a rule entry
        if d.code not in index:
            index[d.code] = len(rules)
            rules.append({"id": d.code, "shortDescription": {"text": d.message},
                          "defaultConfiguration": {"level": _SARIF_LEVEL[d.severity]}})
    fp = report.fingerprinter()
    results = []
    for d in report.diagnostics:
        text = d.message + "".join(f"\nnote: {n}" for n in d.notes) + (f"\nhelp: {d.help}" if d.help else "")
        r: dict = {"ruleId": d.code, "ruleIndex": index[d.code], "level": _SARIF_LEVEL[d.severity],
                   "message": {"text": text}}
        if d.span is not None:
            r["locations"] = [_location(d.span)]
            if d.labels:
                r["relatedLocations"] = [_location(lb.span, lb.message, i) for i, lb in enumerate(d.labels)]
        r["partialFingerprints"] = {"mlcFingerprint/v1": fp.entry(d).fingerprint}
        results.append(r)
    run: dict = {
        "tool": {"driver": {"name": "mlc", "version": __version__, "semanticVersion": __version__,
                            "rules": rules}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


# ---------------------------------------------------------------- github
def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def to_github(report: LintReport) -> list[str]:
    lines = []
    for d in report.diagnostics:
        props = []
        if d.span is not None:
            s = d.span
            props += [f"file={escape_property(s.file)}", f"line={s.line}", f"col={s.col}",
                      f"endLine={max(s.end_line, s.line)}", f"endColumn={s.end_col}"]
        props.append(f"title={escape_property(d.code)}")
        message = d.message + (f"\nhelp: {d.help}" if d.help else "")
        lines.append(f"::{_GITHUB_LEVEL[d.severity]} {','.join(props)}::{escape_data(message)}")
    return lines


# ---------------------------------------------------------------- junit
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(s: str) -> str:
    return _XML_BAD.sub("\ufffd", s)


def _line(d: Diagnostic) -> str:
    where = f"{d.span}: " if d.span else ""
    out = f"{where}{d.severity.value}[{d.code}]: {d.message}"
    out += "".join(f"\n    note: {n}" for n in d.notes)
    if d.help:
        out += f"\n    help: {d.help}"
    return out


def to_junit(report: LintReport) -> str:
    by_file: dict[str, list[Diagnostic]] = {f: [] for f in report.files}
    for d in report.diagnostics:
        by_file.setdefault(d.span.file if d.span else "mlc", []).append(d)
    suites = ET.Element("testsuites", name="mlc lint")
    suite = ET.SubElement(suites, "testsuite", name="mlc lint")
    failures = 0
    for name in sorted(by_file, key=lambda n: (n == "mlc", n)):
        diags = by_file[name]
        case = ET.SubElement(suite, "testcase", classname="mlc.lint", name=_xml(name))
        if name != "mlc":
            case.set("file", _xml(name))
        failing = [d for d in diags if d.severity is not Severity.NOTE]
        if failing:
            failures += 1
            errors = sum(1 for d in failing if d.is_error)
            warnings = len(failing) - errors
            summary = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}: " + \
                ", ".join(sorted(dict.fromkeys(d.code for d in failing)))
            fail = ET.SubElement(case, "failure", message=_xml(summary), type="lint")
            fail.text = _xml("\n".join(_line(d) for d in failing))
        notes = [d for d in diags if d.severity is Severity.NOTE]
        if notes:
            ET.SubElement(case, "system-out").text = _xml("\n".join(_line(d) for d in notes))
    tests = len(by_file)
    for el in (suites, suite):
        el.set("tests", str(tests))
        el.set("failures", str(failures))
        el.set("errors", "0")
    suite.set("skipped", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
