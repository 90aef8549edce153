"""The `mlc` command line. Exit codes as ruff: 0 clean, 1 findings, 2 usage or internal error.

Heavy modules are imported inside the commands, so `mlc check` starts fast.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
from pathlib import Path

import click

from mlc import __version__
from mlc.targets import TARGETS

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

_format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="How to print diagnostics: rustc-style text, or versioned JSON.")
_cache_option = click.option("--no-cache", is_flag=True, help="Re-parse every file instead of using .mlc_cache/.")
_paths_argument = click.argument("paths", nargs=-1, type=click.Path())
_jobs_option = click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
    help="Processes that parse and lower the files (default: every core, for a large project; 1: this one).")


def _color(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def _emit(result, fmt: str) -> None:
    from mlc.diagnostics import render_json, render_text

    if fmt == "json":
        click.echo(render_json(result.diagnostics))
        return
    if result.diagnostics:
        click.echo(render_text(result.diagnostics, result.sources, color=_color(sys.stderr)), err=True, nl=False)


def _summary(result, verb: str) -> str:
    files = len(result.project.files)
    decls = result.declarations
    return (f"{verb} {files} file{'s' * (files != 1)}, {decls} declaration{'s' * (decls != 1)}: "
            f"{result.errors} error{'s' * (result.errors != 1)}, "
            f"{result.warnings} warning{'s' * (result.warnings != 1)}")


def _load(paths):
    from mlc.compiler.project import ProjectError, load_project

    try:
        return load_project(paths)
    except ProjectError as e:
        raise click.UsageError(str(e)) from e


def _run_check(paths, no_cache: bool, jobs: int | None = None):
    """The language's checks and every backend's, for every env (mlc.deploy.bundle.check)."""
    from mlc.deploy.bundle import check

    project = _load(paths)
    project.jobs = jobs
    return check(project, use_cache=not no_cache)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlc")
def main() -> None:
    """mlc compiles one declarative description of an ML platform into the systems that run it."""


@main.command("check")
@_paths_argument
@_format_option
@_cache_option
@_jobs_option
def check_cmd(paths: tuple[str, ...], fmt: str, no_cache: bool, jobs: int | None) -> None:
    """Parse and check PATHS (default: the project in this folder)."""
    result = _run_check(paths, no_cache, jobs)
    _emit(result, fmt)
    if fmt == "text":
        click.echo(_summary(result, "checked"), err=True)
    sys.exit(EXIT_FINDINGS if result.errors or result.warnings else EXIT_CLEAN)


@main.command("compile")
@_paths_argument
@click.option("--env", "env_name", required=True, help="The environment to compile for (an `env` declaration).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Output folder: new, empty, or written by mlc before; replaced whole and atomically.")
@click.option("--target", "targets", multiple=True, metavar="NAME",
              help=f"A backend to run (repeatable): {', '.join(sorted(TARGETS))}. Default: every backend.")
@click.option("--emit", "emit", type=click.Choice(["ir"]), multiple=True, help="Also write the IR as JSON (ir.json).")
@click.option("--branch", "branch", metavar="NAME", default=None,
              help="A test namespace (`test.alice`): DAG ids, non-external signals' assets and artifact "
                   "locations get it, so that the deployment never fires or overwrites production's.")
@_format_option
@_cache_option
@_jobs_option
def compile_cmd(paths, env_name: str, out: str, targets: tuple[str, ...], emit: tuple[str, ...],
                fmt: str, no_cache: bool, jobs: int | None, branch: str | None = None) -> None:
    """Compile PATHS for one environment into OUT, with manifest.json listing every file."""
    from mlc.deploy.bundle import compile as compile_bundle
    from mlc.deploy.outdir import OutputRefused, check_output, write_output
    from mlc.diagnostics import did_you_mean
    from mlc.targets.layout import Layout

    available = sorted(TARGETS)
    unknown = [t for t in targets if t not in available]
    if unknown:
        hint = did_you_mean(unknown[0], available) or ""
        raise click.UsageError(f"unknown target `{unknown[0]}` (available: {', '.join(available)}) {hint}".strip())
    project = _load(paths).rooted()
    project.jobs = jobs
    protected = [project.root, *project.files]
    try:
        check_output(Path(out), protected)  # before the work: refused at once, not after a compile
    except OutputRefused as e:
        click.echo(f"error: {e}; nothing written", err=True)
        sys.exit(EXIT_USAGE)
    compiled = compile_bundle(project, env_name, list(dict.fromkeys(targets)) or available, use_cache=not no_cache,
                              emit_ir="ir" in emit, branch=branch)
    result = compiled.result
    if compiled.envs is not None and env_name not in compiled.envs:
        hint = did_you_mean(env_name, compiled.envs) or ""
        raise click.UsageError(f"no env `{env_name}` in this program (envs: {', '.join(compiled.envs) or 'none declared'}) "
                               f"{hint}".strip())
    _emit(result, fmt)
    if not compiled.ok:
        if fmt == "text":
            click.echo(_summary(result, "checked") + "; nothing written", err=True)
        sys.exit(EXIT_FINDINGS)
    # a local env's data inside --out (`files("build/s3")` with `--out build`) is kept
    data = [project.root / r for r in Layout(result.program).local_data_roots()]
    try:
        write_output(Path(out), compiled.artifacts, protected, keep=data)
    except OutputRefused as e:
        click.echo(f"error: {e}; nothing written", err=True)
        sys.exit(EXIT_USAGE)
    if fmt == "text":
        n = len(compiled.artifacts)
        click.echo(_summary(result, "compiled") + f"; wrote {n} file{'s' * (n != 1)} to {out}", err=True)
    sys.exit(EXIT_CLEAN)


@main.command("graph")
@_paths_argument
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid",
              show_default=True, help="Mermaid or Graphviz DOT text, or SVG drawn by Graphviz `dot`.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@_cache_option
def graph_cmd(paths, fmt: str, out: str | None, no_cache: bool) -> None:
    """Draw the whole program: ML vs deterministic, stream vs batch, signals, the feature store."""
    import subprocess

    from mlc.compiler.draw import to_dot, to_mermaid
    from mlc.compiler.graph import build_graph
    from mlc.dsl.files import write_atomically

    dot_binary = shutil.which("dot")
    if fmt == "svg" and dot_binary is None:
        raise click.UsageError("--format svg needs Graphviz's `dot` on PATH (apt-get install graphviz); "
                               "--format dot or mermaid need nothing")
    result = _run_check(paths, no_cache)
    if result.errors or result.program is None:
        _emit(result, "text")
        click.echo(_summary(result, "checked") + "; nothing drawn", err=True)
        sys.exit(EXIT_FINDINGS)
    g = build_graph(result.program)
    text = to_mermaid(g) if fmt == "mermaid" else to_dot(g)
    if fmt == "svg":
        done = subprocess.run([dot_binary, "-Tsvg"], input=text, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            click.echo(f"internal error: dot failed: {done.stderr.strip()}", err=True)
            sys.exit(EXIT_USAGE)
        text = done.stdout
    if out:
        write_atomically(Path(out), text)
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_CLEAN)


@main.command("docs")
@_paths_argument
@click.option("--env", "env_name", required=True, help="The env whose compiled artifacts the pages list.")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="Output folder, replaced whole and atomically as by `mlc compile`. Required, except "
                   "for `serve` (default: a temporary folder).")
@click.option("--port", "port", type=int, default=8000, show_default=True,
              help="`serve` only: the port on 127.0.0.1 (0: any free port).")
@_cache_option
def docs_cmd(paths, env_name: str, out: str | None, port: int, no_cache: bool) -> None:
    """Write PATHS' documentation site into OUT: a map of every declaration, a page for each and
    an SLO board, self-contained (no network). `mlc docs serve --env NAME [PATHS]` serves it on
    127.0.0.1 and rebuilds it when a source file changes (a project folder named `serve`: ./serve)."""
    import tempfile

    from mlc.deploy.outdir import OutputRefused, check_output, write_output
    from mlc.diagnostics import did_you_mean
    from mlc.docsite.build import build

    serving = bool(paths) and paths[0] == "serve"
    paths = paths[1:] if serving else paths
    if out is None and not serving:
        raise click.UsageError("--out is required (the folder to write the site into)")
    project = _load(paths).rooted()
    protected = [project.root, *project.files]
    temporary = tempfile.TemporaryDirectory(prefix="mlc-docs-") if out is None else None
    target = Path(temporary.name if temporary else out) / ("site" if temporary else "")
    try:
        check_output(target, protected)
    except OutputRefused as e:
        click.echo(f"error: {e}; nothing written", err=True)
        sys.exit(EXIT_USAGE)

    def rebuild():
        docs = build(_load(paths), env_name, use_cache=not no_cache)
        compiled = docs.compiled
        if compiled.envs is not None and env_name not in compiled.envs:
            hint = did_you_mean(env_name, compiled.envs) or ""
            raise click.UsageError(f"no env `{env_name}` in this program (envs: "
                                   f"{', '.join(compiled.envs) or 'none declared'}) {hint}".strip())
        _emit(compiled.result, "text")
        if not docs.ok:
            click.echo(_summary(compiled.result, "checked") + "; no site written", err=True)
            return None
        return docs.files

    def write(files) -> None:
        write_output(target, files, protected)
        click.echo(f"wrote {len(files)} files to {target}", err=True)

    if not serving:
        files = rebuild()
        if files is None:
            sys.exit(EXIT_FINDINGS)
        try:
            write(files)
        except OutputRefused as e:
            click.echo(f"error: {e}; nothing written", err=True)
            sys.exit(EXIT_USAGE)
        sys.exit(EXIT_CLEAN)
    from mlc.docsite.serve import serve
    from mlc.docsite.watch import Watcher

    watcher = Watcher(lambda: [*_load(paths).files, project.root / "mlc.toml"])
    try:
        serve(target, port, rebuild, write, watcher.changed,
              lambda url: click.echo(f"serving {target} at {url} (Ctrl-C stops)", err=True))
    except OSError as e:
        click.echo(f"error: cannot serve on 127.0.0.1:{port}: {e}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        if temporary is not None:
            temporary.cleanup()
    sys.exit(EXIT_CLEAN)


@main.command("explain")
@click.argument("what", type=click.Choice(["freshness", "completion", "latency", "availability"]))
@click.argument("name")
@_paths_argument
@_cache_option
def explain_cmd(what: str, name: str, paths, no_cache: bool) -> None:
    """Show how a bound was derived, hop by hop, and the verdict on each objective about it:
    `mlc explain freshness ranker` (a source, feature group, model, flow or `flow.step`),
    `mlc explain completion FLOW`, `mlc explain latency MODEL`; `mlc explain availability MODEL`
    shows its availability objectives' error budgets and the burn-rate alerts the rules derive."""
    from mlc.compiler.explain import SUBJECTS, candidates, explain_completion, explain_freshness, explain_latency, find
    from mlc.diagnostics import did_you_mean

    result = _run_check(paths, no_cache)
    if result.program is None:
        _emit(result, "text")
        sys.exit(EXIT_FINDINGS)
    found = find(result.program, name, what)
    if not found:
        hint = did_you_mean(name, candidates(result.program, what)) or ""
        words = [w.replace("step", "step (flow.step)") for w in SUBJECTS[what]]
        kinds = f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else words[0]
        raise click.UsageError(f"no {kinds} named `{name}`" + (f"; {hint}" if hint else ""))
    for word, key, step in found:
        if what == "freshness":
            click.echo(explain_freshness(result.program, word, key, step), nl=False)
        elif what == "completion":
            click.echo(explain_completion(result.program, key), nl=False)
        elif what == "availability":
            from mlc.targets.prometheus.explain import explain_availability

            click.echo(explain_availability(result.program, key), nl=False)
        else:
            click.echo(explain_latency(result.program, key), nl=False)
    sys.exit(EXIT_CLEAN)


@main.command("schema")
@click.option("--yaml", "yaml_doc", is_flag=True,
              help="Print the JSON Schema of a .flow.yaml document instead (for editors).")
def schema_cmd(yaml_doc: bool) -> None:
    """Print the JSON Schema of the IR, or with --yaml of .flow.yaml programs."""
    import json

    if yaml_doc:
        from mlc.dsl.yaml_schema import json_schema
    else:
        from mlc.compiler.ir import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@main.command("fmt")
@_paths_argument
@click.option("--check", is_flag=True, help="Write nothing; exit 1 and name the files that would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print a unified diff of the changes.")
@click.option("--to", "to", type=click.Choice(["flow", "yaml"]),
              help="Convert: each file in the other syntax is rewritten as x.flow or x.flow.yaml (and removed).")
@click.option("--width", type=click.IntRange(min=1),
              help="Line width a one-line block must fit in  [default: mlc.toml's [fmt] width, else 100]")
def fmt_cmd(paths: tuple[str, ...], check: bool, show_diff: bool, to: str | None, width: int | None) -> None:
    """Rewrite PATHS in the canonical layout (default: the project in this folder).

    Comments are kept; a file with syntax errors is left as it is and its errors
    are reported. Exit 0: nothing to do (or files rewritten); 1: files would change
    (--check/--diff) or could not be formatted; 2: usage error.
    """
    import difflib

    from mlc.compiler.project import ProjectError, load_project
    from mlc.diagnostics import SourceMap, render_text
    from mlc.dsl.files import read_source
    from mlc.dsl.files import write_atomically
    from mlc.dsl.fmt import format_text, project_width

    try:
        project = load_project(paths)
        width = width or project_width(project.config)
    except (ProjectError, ValueError) as e:
        raise click.UsageError(str(e)) from e
    if to:
        _fmt_convert(project, to, check, show_diff)
    files = [p for p in project.files if p.name.endswith(".flow")]  # not the .flow.yaml programs
    sources = SourceMap()
    problems = []
    changed: list[str] = []
    failed = 0
    for path in files:
        display = project.display(path)
        text, diags = read_source(path, display)
        if text is None:
            problems.extend(diags)
            failed += 1
            continue
        formatted, diags = format_text(text, display, width)
        if formatted is None:
            sources.add(display, text)
            problems.extend(diags)
            failed += 1
            continue
        if formatted == text:
            continue
        changed.append(display)
        if show_diff:
            click.echo("".join(difflib.unified_diff(
                text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                fromfile=f"a/{display}", tofile=f"b/{display}")), nl=False)
        elif check:
            click.echo(f"would reformat {display}")
        else:
            write_atomically(path, formatted)
            click.echo(f"reformatted {display}", err=True)
    if problems:
        click.echo(render_text(problems, sources, color=_color(sys.stderr)), err=True, nl=False)
    write = not (check or show_diff)
    verb = "reformatted" if write else "would be reformatted"
    summary = (f"{len(changed)} file{'s' * (len(changed) != 1)} {verb}, "
               f"{len(files) - len(changed) - failed} unchanged")
    if failed:
        summary += f", {failed} not formatted (errors)"
    click.echo(summary, err=True)
    sys.exit(EXIT_FINDINGS if failed or (changed and not write) else EXIT_CLEAN)


def _fmt_convert(project, to: str, check: bool, show_diff: bool) -> None:
    """`mlc fmt --to flow|yaml`: rewrites each file written in the other syntax, then removes it."""
    import difflib

    from mlc.diagnostics import SourceMap, render_text
    from mlc.dsl.files import read_source
    from mlc.dsl.files import write_atomically
    from mlc.dsl.parser import parse_text
    from mlc.dsl.yaml_emit import ConversionError, module_to_flow, module_to_yaml
    from mlc.dsl.yaml_front import YAML_SUFFIXES, parse_yaml

    sources = SourceMap()
    problems = []
    converted: list[str] = []
    failed = 0
    for path in project.files:
        is_yaml = path.name.endswith(YAML_SUFFIXES)
        if is_yaml == (to == "yaml"):
            continue  # already in the wanted syntax
        display = project.display(path)
        text, diags = read_source(path, display)
        if text is None:
            problems.extend(diags)
            failed += 1
            continue
        sources.add(display, text)
        module, diags = (parse_yaml if is_yaml else parse_text)(text, display)
        if any(d.is_error for d in diags):
            problems.extend(diags)
            failed += 1
            continue
        stem = path.name[: -len(next(s for s in YAML_SUFFIXES if path.name.endswith(s)))] if is_yaml \
            else path.name[: -len(".flow")]
        target = path.with_name(stem + (".flow.yaml" if to == "yaml" else ".flow"))
        shown = project.display(target)
        try:
            out = module_to_yaml(module) if to == "yaml" else module_to_flow(module)
        except ConversionError as e:
            click.echo(f"{display}: cannot convert: {e}", err=True)
            failed += 1
            continue
        _back, back_diags = (parse_text if to == "flow" else parse_yaml)(out, shown)
        if any(d.is_error for d in back_diags):  # never write what does not read back
            click.echo(f"internal error: converting {display} gave text that does not parse: "
                       f"{back_diags[0].message}; this is a bug in mlc", err=True)
            failed += 1
            continue
        if target.exists():
            click.echo(f"{display}: not converted: {shown} already exists", err=True)
            failed += 1
            continue
        converted.append(display)
        if show_diff:
            click.echo("".join(difflib.unified_diff(
                text.splitlines(keepends=True), out.splitlines(keepends=True),
                fromfile=f"a/{display}", tofile=f"b/{shown}")), nl=False)
        elif check:
            click.echo(f"would convert {display} -> {shown}")
        else:
            write_atomically(target, out)
            path.unlink()
            click.echo(f"converted {display} -> {shown}", err=True)
    if problems:
        click.echo(render_text(problems, sources, color=_color(sys.stderr)), err=True, nl=False)
    write = not (check or show_diff)
    n = len(converted)
    summary = f"{n} file{'s' * (n != 1)} {'converted' if write else 'would be converted'} to {'.flow.yaml' if to == 'yaml' else '.flow'}"
    if failed:
        summary += f", {failed} not converted"
    click.echo(summary, err=True)
    sys.exit(EXIT_FINDINGS if failed or (converted and not write) else EXIT_CLEAN)


@main.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--name", "package", help="The package name (default: the folder's name, made a name).")
def init_cmd(directory: str, package: str | None) -> None:
    """Create a new project in DIRECTORY (default: here): mlc.toml, a local and a prod env,
    a source, an entity, a feature group and a flow, that `mlc check` passes.

    Existing files are never overwritten: if any file to be created exists, nothing is
    written and the exit code is 2.
    """
    import json
    import re
    from importlib import resources

    root = Path(directory)
    if root.exists() and not root.is_dir():
        click.echo(f"mlc init: {directory} exists and is not a folder", err=True)
        sys.exit(EXIT_USAGE)
    if package is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", package):
        click.echo(f"mlc init: `{package}` is not a package name (letters, digits, `_` and dots)", err=True)
        sys.exit(EXIT_USAGE)
    name = root.resolve().name
    if package is None:
        package = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "platform"
        if package[0].isdigit():
            package = "p_" + package
    templates = resources.files("mlc").joinpath("templates", "init")
    files = sorted((t.name, t.read_text(encoding="utf-8")) for t in templates.iterdir()
                   if t.is_file() and not t.name.startswith((".", "__")))
    existing = [n for n, _ in files if (root / n).exists()]
    if existing:
        click.echo(f"mlc init: not creating a project in {directory}: "
                   f"{', '.join(existing)} already exist{'s' * (len(existing) == 1)}; nothing was written",
                   err=True)
        sys.exit(EXIT_USAGE)
    root.mkdir(parents=True, exist_ok=True)
    for n, text in files:
        text = text.replace("__PACKAGE__", package).replace("__NAME__", json.dumps(name)[1:-1])
        with open(root / n, "x", encoding="utf-8") as f:  # "x": never replaces a file
            f.write(text)
        click.echo(f"created {root / n}", err=True)
    where = "" if root.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    click.echo(f"next: {where}mlc check, then mlc compile --env local --out build", err=True)
    sys.exit(EXIT_CLEAN)


_LINT_FORMATS = ["text", "json", "sarif", "github", "junit"]


@main.command("lint")
@_paths_argument
@click.option("--format", "fmt", type=click.Choice(_LINT_FORMATS), default="text", show_default=True,
              help="text (rustc-style, to stderr), json (as `check`), sarif (2.1.0), github (workflow "
                   "annotations) or junit (XML, one test case per file).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False),
              help="Write the report to FILE instead of the terminal.")
@click.option("--select", "select", multiple=True, metavar="CODES",
              help="Codes or prefixes to report, comma-separated; replaces `select` of the settings.")
@click.option("--ignore", "ignore", multiple=True, metavar="CODES",
              help="Warning codes or prefixes not to report, comma-separated; added to `ignore`.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False),
              help="Accept the findings held in this baseline file (default: `baseline` of the settings).")
@click.option("--update-baseline", is_flag=True,
              help="Write every current warning to the baseline file, then report what it does not hold.")
@click.option("--no-baseline", is_flag=True, help="Report every finding, even those the baseline holds.")
@_cache_option
def lint_cmd(paths, fmt: str, output: str | None, select: tuple[str, ...], ignore: tuple[str, ...],
             baseline_path: str | None, update_baseline: bool, no_baseline: bool, no_cache: bool) -> None:
    """Check PATHS and report with CI policy: rule selection, suppressions, baselines, CI formats.

    Settings: `[lint]` in mlc.toml or `[tool.mlc.lint]` in pyproject.toml (docs/lint.md).
    Exit 0: no error or warning remains; 1: findings; 2: usage or internal error.
    """
    from mlc.compiler.project import ProjectError, load_project
    from mlc.deploy.bundle import check
    from mlc.lint import baseline as lint_baseline, config as lint_config
    from mlc.lint.engine import lint
    from mlc.dsl.files import write_atomically
    from mlc.lint.formats import render

    if update_baseline and no_baseline:
        raise click.UsageError("--update-baseline and --no-baseline contradict each other")
    try:
        project = load_project(paths)
        cfg = lint_config.with_cli(lint_config.load(project.root, project.config), list(select), list(ignore))
    except (ProjectError, lint_config.ConfigError) as e:
        raise click.UsageError(str(e)) from e
    path = Path(baseline_path) if baseline_path else (None if no_baseline else cfg.baseline)
    if update_baseline and path is None:
        raise click.UsageError("--update-baseline needs --baseline FILE (or `baseline` in the lint settings)")
    accepted = None
    if path is not None and not update_baseline:
        try:
            accepted = lint_baseline.Baseline.read(path)
        except lint_baseline.BaselineError as e:
            raise click.UsageError(str(e)) from e
    report = lint(check(project, use_cache=not no_cache), cfg, accepted)
    if update_baseline:
        fingerprints = report.fingerprinter()
        written = lint_baseline.build(report.findings, fingerprints)
        written.write(path)
        report.diagnostics, report.baselined, report.stale = lint_baseline.filter_new(
            report.findings, written, fingerprints)
        click.echo(f"wrote {written.total} finding{'s' * (written.total != 1)} to {path}", err=True)
    if output:
        write_atomically(Path(output), render(report, fmt))
    elif fmt == "text":
        if report.diagnostics:
            click.echo(render(report, fmt, color=_color(sys.stderr)), err=True, nl=False)
    else:
        click.echo(render(report, fmt), nl=False)
    if fmt == "text":
        files = len(report.files)
        parts = [f"{report.errors} error{'s' * (report.errors != 1)}",
                 f"{report.warnings} warning{'s' * (report.warnings != 1)}"]
        if report.notes:
            parts.append(f"{report.notes} note{'s' * (report.notes != 1)}")
        hidden = [f"{n} {what}" for n, what in ((report.suppressed, "suppressed"),
                                                (report.baselined, "in the baseline")) if n]
        line = f"linted {files} file{'s' * (files != 1)}: {', '.join(parts)}"
        line += f" ({', '.join(hidden)})" if hidden else ""
        if report.stale:
            line += (f"; {report.stale} baseline entr{'ies' if report.stale != 1 else 'y'} no longer "
                     "match (fixed? --update-baseline drops them)")
        click.echo(line, err=True)
    sys.exit(EXIT_FINDINGS if report.failed else EXIT_CLEAN)


@main.command("rule")
@click.argument("code", required=False)
def rule_cmd(code: str | None) -> None:
    """Explain the diagnostic CODE (its docs page); with no CODE, list every code."""
    from mlc.diagnostics import did_you_mean
    from mlc.lint.registry import REGISTRY, RULES, render_page

    if code is None:
        for r in RULES:
            click.echo(f"{r.code}  {r.severity.value:<7}  {r.name:<28}  {r.summary}")
        sys.exit(EXIT_CLEAN)
    rule = REGISTRY.get(code.strip().upper())
    if rule is None:
        hint = did_you_mean(code.strip().upper(), REGISTRY) or "`mlc rule` lists every code"
        raise click.UsageError(f"no diagnostic code `{code}`; {hint}")
    click.echo(render_page(rule), nl=False)
    sys.exit(EXIT_CLEAN)


@main.command("lsp")
def lsp_cmd() -> None:
    """Run the language server over stdio (for editors: see docs/editors.md)."""
    from mlc.lsp.server import serve

    gc.enable()  # a long-lived process: cycles must be collected (`run` turns the collector off)
    serve()


_env_option = click.option("--env", "env_name", required=True, help="The environment to deploy (an `env` declaration).")
_to_option = click.option("--to", "to", metavar="FOLDER|s3://BUCKET/PREFIX",
                          help="Where to deploy instead of [deploy.ENV] of mlc.toml (docs/deploy.md).")
_branch_option = click.option("--branch", "branch", metavar="NAME", default=None,
                              help="Deploy the test namespace NAME (as `mlc compile --branch`).")


def _prepare_deploy(paths, env_name: str, to: str | None, no_cache: bool, fmt: str, branch: str | None = None,
                    warm_feast: bool = False):
    """Compiles for a deploy (every backend) and reads the deploy settings; exits 1 with the
    diagnostics or the settings' error. `warm_feast`: mlc.deploy.release.prepare."""
    from mlc.deploy.config import ConfigError
    from mlc.deploy.release import prepare
    from mlc.diagnostics import did_you_mean

    project = _load(paths).rooted()
    try:
        prepared = prepare(project, env_name, to, use_cache=not no_cache, branch=branch, warm_feast=warm_feast)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FINDINGS)
    compiled = prepared.compiled
    if compiled.envs is not None and env_name not in compiled.envs:
        hint = did_you_mean(env_name, compiled.envs) or ""
        click.echo(f"error: no env `{env_name}` in this program (envs: {', '.join(compiled.envs) or 'none declared'}) "
                   f"{hint}".strip(), err=True)
        sys.exit(EXIT_FINDINGS)
    if not prepared.ok:
        _emit(compiled.result, "text" if fmt == "json" else fmt)
        click.echo(_summary(compiled.result, "checked") + "; nothing deployed", err=True)
        sys.exit(EXIT_FINDINGS)
    return prepared


@main.command("plan")
@_paths_argument
@_env_option
@_to_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (format mlc-plan/1).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 2: changes, 1: error (as terraform).")
@_branch_option
@_cache_option
def plan_cmd(paths, env_name: str, to: str | None, as_json: bool, detailed_exitcode: bool, no_cache: bool,
             branch: str | None = None) -> None:
    """What `mlc deploy --env ENV` would add, change and remove, per target.

    Exit 0 on success, 1 on error; with --detailed-exitcode 0 no changes, 2 changes, 1 error."""
    from mlc.deploy.local import DeployError
    from mlc.deploy.plan import render_json, render_text
    from mlc.deploy.release import describe, engine_notes, plan

    prepared = _prepare_deploy(paths, env_name, to, no_cache, "json" if as_json else "text", branch)
    try:
        the_plan = plan(prepared)
    except DeployError as e:
        click.echo(describe(e, "plan"), err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo(render_json(the_plan) if as_json else render_text(the_plan, engine_notes(the_plan, prepared.config)),
               nl=False)
    sys.exit(2 if detailed_exitcode and not the_plan.empty else EXIT_CLEAN)


@main.command("deploy")
@_paths_argument
@_env_option
@_to_option
@click.option("--rollback", is_flag=True, help="Make the release before the current one current again.")
@click.option("--stop-worker", is_flag=True,
              help="Stop the warm Feast worker of the deploy folder and deploy nothing (docs/deploy.md).")
@_branch_option
@_cache_option
def deploy_cmd(paths, env_name: str, to: str | None, rollback: bool, no_cache: bool, branch: str | None = None,
               stop_worker: bool = False) -> None:
    """Deploy ENV: a local release (the embedded engines) or an S3 one (docs/deploy.md).

    Only what changed is applied; the new release becomes current only when every target
    applied, so a failure leaves the previous one whole and current. Exit 0: deployed (or
    nothing to do), 1: error."""
    from mlc.deploy.local import DeployError
    from mlc.deploy.release import describe, deploy, rollback as roll_back

    if rollback or stop_worker:
        from mlc.deploy.config import ConfigError, load
        from mlc.deploy.release import on_branch

        project = _load(paths).rooted()
        try:
            config = on_branch(load(project.root, project.config, env_name, to), branch)
            if stop_worker:
                from mlc.deploy import feast_worker

                pid = feast_worker.stop(config.root) if config.kind == "local" else None
                click.echo(f"stopped the Feast worker (pid {pid}) of {config.where}" if pid
                           else f"no Feast worker runs for {config.where}", err=True)
                sys.exit(EXIT_CLEAN)
            was, now = roll_back(config)
        except (ConfigError, DeployError) as e:
            click.echo(describe(e, "rollback") if isinstance(e, DeployError) else f"error: {e}", err=True)
            sys.exit(EXIT_FINDINGS)
        click.echo(f"rolled back env `{env_name}`: release {now} is current again (was {was})", err=True)
        sys.exit(EXIT_CLEAN)
    prepared = _prepare_deploy(paths, env_name, to, no_cache, "text", branch, warm_feast=True)
    try:
        outcome = deploy(prepared)
    except (DeployError, OSError) as e:
        if isinstance(e, OSError):  # the deploy folder itself: not writable, disk full
            e = DeployError(f"{prepared.config.where}: {e.strerror or e}", help="choose another folder with --to")
        click.echo(describe(e) + "\nno release was made current: what was deployed before is whole and current",
                   err=True)
        sys.exit(EXIT_FINDINGS)
    where = prepared.config.where
    if outcome.plan.empty:
        click.echo(f"no changes: {where} is up to date (release {outcome.release})", err=True)
        sys.exit(EXIT_CLEAN)
    applied = ", ".join(f"{t} {n}" for t, n in sorted(outcome.applied.items())) or "nothing"
    click.echo(f"{outcome.plan.summary()}\nreleased {outcome.release} to {where} (applied: {applied})", err=True)
    sys.exit(EXIT_CLEAN)


@main.command("doctor")
@click.argument("only", nargs=-1, metavar="[ENGINE]...")
@click.option("--engines", "engines", type=click.Path(file_okay=False),
              help="The folder of engine environments (default: $MLC_ENGINES, else mlc's own .engines).")
def doctor_cmd(only: tuple[str, ...], engines: str | None) -> None:
    """Which engine environments are installed and current, what is missing, and the one
    command that installs it; with ENGINE names, those only (and java for spark or flink).
    Exit 0: all ready, 1: something to install."""
    from mlc.deploy import engines as E
    from mlc.deploy.config import engines_root

    root = engines_root({"engines": engines} if engines else None)
    unknown = sorted(set(only) - set(E.names(root)))
    if unknown:
        raise click.UsageError(f"no engine {', '.join(unknown)} (engines: {', '.join(E.names(root))})")
    found = [E.status(root, n) for n in E.names(root) if not only or n in only]
    # (ok, name, state, what) rows, printed in aligned columns once all are known
    rows = [(e.ready, e.name, e.state, E.PURPOSE.get(e.name, "")) for e in found]
    # what the named engines need beside themselves: a JVM for Spark and Flink, nothing else
    needs_java = not only or bool({"spark", "flink"} & set(only))
    java = E.java() if needs_java else "not needed"
    if needs_java:
        rows.append((bool(java), "java", "ready" if java else "missing",
                     "Spark and Flink's JVM" + (f" ({java})" if java else "")))
    tools = E.monitoring() if not only else []
    rows += [(bool(path), name, "ready" if path else "missing", why + (f" ({path})" if path else ""))
             for name, path, _pkg, why in tools]
    width = max(len(name) for _ok, name, _s, _w in rows)
    click.echo(f"engine environments in {root}:")
    for ok, name, state, what in rows:
        click.echo(f"  {'ok' if ok else '!!'} {name:<{width}} {state:<8} {what}")
    todo = [e.name for e in found if not e.ready]
    if todo:
        click.echo(f"missing or out of date: {', '.join(todo)}; install with:\n  {E.install_command(root, todo)}")
    if not java:
        click.echo("java is missing; install with:\n  apt-get install -y --no-install-recommends openjdk-17-jre-headless")
    lacking = sorted({pkg for _n, path, pkg, _w in tools if not path})
    if lacking:
        click.echo(f"{' and '.join(lacking)} missing; install with:\n  bash scripts/setup.sh   "
                   f"(or apt-get install -y --no-install-recommends {' '.join(lacking)})")
    if not todo and java and not lacking:
        click.echo("everything is installed")
    sys.exit(EXIT_FINDINGS if todo or not java or lacking else EXIT_CLEAN)


def _conf_pairs(pairs, what: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise click.UsageError(f"{what} `{pair}`: write KEY=VALUE")
        out[key] = value
    return out


def _deployed(paths, env_name: str, to: str | None):
    from mlc.run.deployed import RunError, find

    project = _load(paths).rooted()
    try:
        return find(project.root, project.config, env_name, to)
    except RunError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_FINDINGS)


@main.command("run")
@click.argument("flow")
@_paths_argument
@click.option("--env", "env_name", default="local", show_default=True, help="The deployed env to run in.")
@click.option("--to", "to", metavar="FOLDER", help="The deploy folder, when deployed with --to.")
@click.option("--conf", "conf", multiple=True, metavar="KEY=VALUE", help="A parameter of the run (repeatable).")
@click.option("--bootstrap", "bootstrap", metavar="HOST:PORT",
              help="The Kafka broker a stream group's run reads (default: $MLC_KAFKA_BOOTSTRAP, `kafka_bootstrap` "
                   "of [deploy.ENV], the broker `mlc kafka up` runs, else the env's binding).")
def run_cmd(flow: str, paths, env_name: str, to: str | None, conf, bootstrap: str | None) -> None:
    """Run FLOW of the deployed local release (`features.NAME`: a feature group's DAG):
    dag.test() in the Airflow engine, each step shown as it starts and ends (docs/run.md).
    Exit 0: the run succeeded, 1: a step failed or nothing is deployed."""
    from mlc.run import display
    from mlc.run.deployed import RunError
    from mlc.run.flow import run_named

    params = _conf_pairs(conf, "--conf")
    deployed = _deployed(paths, env_name, to)
    click.echo(f"mlc run {flow}: release {deployed.release} of env `{env_name}` ({deployed.config.root})")
    try:
        outcome = run_named(deployed, flow, params, display.progress(click.echo, sys.stdout.isatty()), bootstrap)
    except RunError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo(display.summary(outcome))
    sys.exit(EXIT_CLEAN if outcome.ok else EXIT_FINDINGS)


@main.command("serve")
@click.argument("model")
@_paths_argument
@click.option("--env", "env_name", default="local", show_default=True, help="The deployed env to serve from.")
@click.option("--to", "to", metavar="FOLDER", help="The deploy folder, when deployed with --to.")
@click.option("--port", "port", type=int, help="The port on 127.0.0.1 (default: a free one).")
def serve_cmd(model: str, paths, env_name: str, to: str | None, port: int | None) -> None:
    """Serve MODEL's deployed BentoML service on 127.0.0.1 until Ctrl-C (docs/run.md)."""
    from mlc.run.deployed import RunError
    from mlc.run.serve import serve

    deployed = _deployed(paths, env_name, to)
    try:
        code = serve(deployed, model, port, lambda url: click.echo(
            f"serving {model} (release {deployed.release}) at {url}; predict: mlc predict {model} KEY=VALUE ...; "
            "Ctrl-C stops", err=True))
    except RunError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_CLEAN if code in (0, -15) else EXIT_FINDINGS)


@main.command("predict")
@click.argument("model")
@click.argument("inputs", nargs=-1)
@click.option("--env", "env_name", default="local", show_default=True, help="The deployed env being served.")
@click.option("--to", "to", metavar="FOLDER", help="The deploy folder, when deployed with --to.")
@click.option("--project", "project", type=click.Path(), help="The project folder (default: the current one).")
@click.option("--url", "url", help="The server's URL (default: the one `mlc serve MODEL` recorded).")
@click.option("--wait", "wait", type=float, default=0.0, help="Seconds to wait for a server that is starting.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def predict_cmd(model: str, inputs, env_name: str, to: str | None, project: str | None, url: str | None,
                wait: float, as_json: bool) -> None:
    """One prediction of the served MODEL: INPUTS are key=text or key:=JSON (a number).
    Prints score, confidence, path (model or fallback) and reason."""
    import json

    from mlc.run.deployed import RunError
    from mlc.run.serve import parse_inputs, predict

    deployed = _deployed((project,) if project else (), env_name, to)
    try:
        status, answer = predict(deployed, model, parse_inputs(list(inputs)), url, wait)
    except RunError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_FINDINGS)
    if as_json or status != 200 or not isinstance(answer, dict):
        click.echo(json.dumps(answer, indent=1, sort_keys=True))
        sys.exit(EXIT_CLEAN if status == 200 else EXIT_FINDINGS)
    from mlc.run.serve import render

    click.echo(render(answer))


def _program_of(deployed_paths):
    """The checked program of the project (its IR names the DAGs and assets), or exit 1."""
    from mlc.deploy.bundle import check

    result = check(_load(deployed_paths))
    if result.errors or result.program is None:
        _emit(result, "text")
        click.echo(_summary(result, "checked") + "; fix the program first", err=True)
        sys.exit(EXIT_FINDINGS)
    return result


def _branched(program, branch: str | None):
    """The program as `mlc compile --branch` lowers it: the branch names its DAGs and assets."""
    return program.model_copy(update={"branch": branch}) if branch else program


def _airflow_call(action):
    """Runs `action()`; a RunError (a diagnostic of the program too) is printed, exit 1."""
    from mlc.run.deployed import RunError

    try:
        return action()
    except RunError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_FINDINGS)


_wait_option = click.option("--wait", "wait", type=float, default=0.0, metavar="SECONDS",
                             help="Wait up to SECONDS for the runs it starts to finish, and show their tasks.")
_branch_option = click.option("--branch", "branch", metavar="B",
                               help="The test branch the deploy was compiled for (`mlc compile --branch B`).")
_url_option = click.option("--url", "url", help="The Airflow API server (default: $MLC_AIRFLOW_URL, `airflow_url` "
                           "of [deploy.ENV], else the one `mlc airflow up` runs).")


@main.command("signal")
@click.argument("name")
@click.argument("pairs", nargs=-1)
@click.option("--env", "env_name", default="local", show_default=True, help="The deployed env.")
@click.option("--to", "to", metavar="FOLDER", help="The deploy folder, when deployed with --to.")
@click.option("--project", "project", type=click.Path(), help="The project folder (default: the current one).")
@_branch_option
@_url_option
@_wait_option
def signal_cmd(name: str, pairs, env_name: str, to: str | None, project: str | None, branch: str | None,
               url: str | None, wait: float) -> None:
    """Publish signal NAME with a payload (PAIRS: field=text or field:=JSON, typed against the
    signal's fields) to the local deployment's Airflow: the flows waiting on it start, and run
    their steps when the payload matches their trigger (docs/run.md). Exit 0: published (and,
    with --wait, every run it started finished without failing), 1: otherwise."""
    import json

    from mlc.deploy import declarations
    from mlc.run import airflow_server, signals
    from mlc.targets.airflow.target import dag_ids, keyed_assets, match_key, signal_asset
    from mlc.targets.layout import Layout

    paths = (project,) if project else ()
    deployed = _deployed(paths, env_name, to)
    result = _program_of(paths)
    program = _branched(result.program, branch)
    key, decl = _airflow_call(lambda: signals.find_signal(program, name))
    decl, warning = declarations.read(deployed.bundle, deployed.release, env_name).signal(key, decl)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    try:
        extra = signals.payload(decl, list(pairs))
    except signals.Diagnosed as e:  # before any request
        from mlc.diagnostics import render_text

        click.echo(render_text([e.diagnostic], result.sources, color=_color(sys.stderr)), err=True, nl=False)
        sys.exit(EXIT_FINDINGS)
    except signals.RunError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_FINDINGS)
    layout = Layout(program)
    asset = signal_asset(layout, key, decl)[0]
    client = _airflow_call(lambda: airflow_server.locate(deployed, url))
    keyed = tuple((name, match_key(extra, keys)) for keys, name, _ in keyed_assets(layout, key, decl))
    out = _airflow_call(lambda: signals.publish(client, program, dag_ids(program, layout), key, asset, extra, wait,
                                                keyed))
    click.echo(f"published signal {decl.name} (asset {asset}, event {out.event['id']}) to {client.url}: "
               f"{json.dumps(extra, sort_keys=True)}")
    if not out.waiting:
        click.echo("  no deployed flow waits on it")
    asks = signals.asks(program, key)
    for dag_id, flow in out.waiting.items():
        click.echo(f"  waiting: {flow}" + (f" (runs its steps when {asks[flow]})" if asks.get(flow) else "")
                   + (" [PAUSED: unpause it to let the signal start it]" if dag_id in out.paused else ""))
    for started in out.started:
        click.echo("\n".join(signals.render_started(started)))
    for dag_id in out.not_started:
        click.echo(f"  no run of {out.waiting.get(dag_id, dag_id)} started within {wait:.0f}s "
                   "(a trigger that waits on more than this signal starts when all of them came)")
    failed = any(s.state != "success" for s in out.started) or bool(out.not_started)
    sys.exit(EXIT_FINDINGS if wait > 0 and failed else EXIT_CLEAN)


@main.command("trigger")
@click.argument("flow")
@_paths_argument
@click.option("--env", "env_name", default="local", show_default=True, help="The deployed env.")
@click.option("--to", "to", metavar="FOLDER", help="The deploy folder, when deployed with --to.")
@click.option("--conf", "conf", multiple=True, metavar="PARAM=VALUE",
              help="A param of the run (repeatable; param:=JSON for a JSON value), typed against the flow's params.")
@_branch_option
@_url_option
@_wait_option
def trigger_cmd(flow: str, paths, env_name: str, to: str | None, conf, branch: str | None, url: str | None,
                wait: float) -> None:
    """Start a run of FLOW (`features.NAME`: a feature group's DAG) in the local deployment's
    Airflow, through its REST API (docs/run.md). Exit 0: started (and, with --wait, succeeded), 1: otherwise."""
    from dataclasses import replace

    from mlc.deploy import declarations
    from mlc.run import airflow_server, signals

    deployed = _deployed(paths, env_name, to)
    program = _branched(_program_of(paths).program, branch)
    dag = _airflow_call(lambda: signals.find_dag(program, flow))
    if dag.flow is not None:
        deployed_flow, warning = declarations.read(deployed.bundle, deployed.release, env_name).params(
            signals.find_flow(program, flow), dag.flow)
        dag = replace(dag, flow=deployed_flow)
        if warning:
            click.echo(f"warning: {warning}", err=True)
    params = _airflow_call(lambda: signals.conf(dag, list(conf)))
    _airflow_call(lambda: signals.deployed_dag(deployed, dag))
    client = _airflow_call(lambda: airflow_server.locate(deployed, url))
    started, paused = _airflow_call(lambda: signals.trigger(client, dag.name, dag.dag_id, params, wait))
    click.echo(f"started run {started.run_id} of {started.flow} (DAG {dag.dag_id}) at {client.url}"
               + (" [PAUSED: it runs once the DAG is unpaused]" if paused else ""))
    if started.tasks:
        click.echo("\n".join(signals.render_started(started)))
    sys.exit(EXIT_FINDINGS if wait > 0 and started.state != "success" else EXIT_CLEAN)


def _deployed_server(command):
    """PATHS, --env and --to of a command serving a deploy (`mlc airflow up`, `mlc kafka down`)."""
    for option in (click.option("--to", "to", metavar="FOLDER", help="The deploy folder, when deployed with --to."),
                   click.option("--env", "env_name", default="local", show_default=True, help="The deployed env."),
                   _paths_argument):
        command = option(command)
    return command


@main.group("airflow")
def airflow_group() -> None:
    """The local deployment's Airflow server (`airflow standalone` on the deploy's Airflow home)."""


@airflow_group.command("up")
@_deployed_server
@click.option("--port", "port", type=int, help="The port on 127.0.0.1 (default: a free one).")
def airflow_up_cmd(paths, env_name: str, to: str | None, port: int | None) -> None:
    """Run Airflow (scheduler, DAG processor, triggerer, API server) on the deployed DAGs,
    on 127.0.0.1, until Ctrl-C: the server `mlc signal` and `mlc trigger` talk to."""
    from mlc.run import airflow_server

    deployed = _deployed(paths, env_name, to)
    home = airflow_server.home(deployed)

    def ready(url: str) -> None:
        click.echo(f"Airflow of env `{env_name}` (release {deployed.release}) at {url}; user admin, password in "
                   f"{home / airflow_server.PASSWORDS}; log {home / airflow_server.LOG}; Ctrl-C stops", err=True)

    code = _airflow_call(lambda: airflow_server.up(deployed, port, ready))
    sys.exit(EXIT_CLEAN if code in (0, -15) else EXIT_FINDINGS)


@airflow_group.command("down")
@_deployed_server
def airflow_down_cmd(paths, env_name: str, to: str | None) -> None:
    """Stop the Airflow server `mlc airflow up` runs for this deploy."""
    from mlc.run import airflow_server

    deployed = _deployed(paths, env_name, to)
    url = airflow_server.down(deployed)
    click.echo(f"stopped the Airflow at {url}" if url else f"no Airflow server runs for env `{env_name}`", err=True)


@main.group("kafka")
def kafka_group() -> None:
    """The local Kafka broker of a deploy's stream sources (the kafka engine's Tansu, on 127.0.0.1)."""


@kafka_group.command("up")
@_deployed_server
@click.option("--port", "port", type=int, help="The port on 127.0.0.1 (default: a free one).")
def kafka_up_cmd(paths, env_name: str, to: str | None, port: int | None) -> None:
    """Run a Kafka-protocol broker (Tansu, in memory) on 127.0.0.1 until Ctrl-C; stream runs of
    this deploy read it unless --bootstrap, $MLC_KAFKA_BOOTSTRAP or `kafka_bootstrap` name another."""
    from mlc.run import kafka

    deployed = _deployed(paths, env_name, to)
    code = _airflow_call(lambda: kafka.up(deployed, port, lambda address: click.echo(
        f"Kafka broker of env `{env_name}` at {address}; log {kafka.folder(deployed) / kafka.LOG}; Ctrl-C stops",
        err=True)))
    sys.exit(EXIT_CLEAN if code in (0, -15) else EXIT_FINDINGS)


@kafka_group.command("down")
@_deployed_server
def kafka_down_cmd(paths, env_name: str, to: str | None) -> None:
    """Stop the broker `mlc kafka up` runs for this deploy."""
    from mlc.run import kafka

    deployed = _deployed(paths, env_name, to)
    address = kafka.down(deployed)
    click.echo(f"stopped the Kafka broker at {address}" if address else f"no Kafka broker runs for env `{env_name}`",
               err=True)

def run() -> None:
    """Entry point that turns an internal failure into exit code 2 with a short report."""
    # A short-lived process: the cyclic GC would only re-scan the compiler's acyclic objects.
    gc.disable()
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # the last line of defence: bad input is reported long before this
        click.echo(f"internal error: {type(e).__name__}: {e}\n"
                   "this is a bug in mlc; please report it with the input that caused it", err=True)
        sys.exit(EXIT_USAGE)


def entry() -> None:
    """The `mlc` command: `run`, then end the process without tearing it down.

    Freeing a large program's objects one by one at exit takes a quarter of a second
    and achieves nothing, so, as mypy does, the process ends with `os._exit` once its
    output is flushed."""
    try:
        run()
        code = EXIT_CLEAN
    except SystemExit as e:
        code = e.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: nothing more can be said
        pass
    os._exit(code or 0)


if __name__ == "__main__":
    entry()
