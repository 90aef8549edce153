"""Every diagnostic code `mlc` reports: its default severity, a one-line summary, and a docs page.

The registry is the single source of truth for `mlc rule CODE`, the SARIF `rules` table, the
pages under `docs/rules/` and the index `docs/rules.md`. Regenerate the docs after an edit:

    python -m mlc.lint.registry --write-docs     # rewrite docs/rules.md and docs/rules/*.md
    python -m mlc.lint.registry --check-docs     # exit 1 when the docs on disk are stale

Adding a code: append a `Rule(...)` to `RULES` below (keep the list in code order) with
  - `code`: `E` + 4 digits for an error (the program is rejected), `W` + 4 digits for a warning;
    the first two digits pick the section of the index (`SECTIONS`: add one for a new range);
  - `name`: a short kebab-case name (SARIF `name`, shown by `mlc rule`);
  - `summary`: one line, what is wrong;
  - `example`: a snippet that triggers it, `fix`: the corrected snippet. They are checked by
    tests/test_lint.py: each is appended to `EXAMPLE_PRELUDE` (with `lang="yaml"`: written as
    a .flow.yaml file beside it) and linted; the example must report the code and nothing
    else, the fix nothing at all. Set `checked=False` only when no text can show it
    (unreadable or binary files);
  - `details` (optional): a paragraph on why and how to fix;
  - `inline=False` for a warning that `# mlc: ignore[...]` may not suppress.
Then run `python -m mlc.lint.registry --write-docs`. Codes are never reused or renamed.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from mlc.diagnostics import Severity

CODE_RE = re.compile(r"^[EW]\d{4}$")
DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    example: str
    fix: str
    details: str = ""
    checked: bool = True
    lang: str = "flow"  # the language of example and fix, for the docs' code fences
    inline: bool = True  # may a `# mlc: ignore[...]` comment suppress it (warnings only)

    def __post_init__(self) -> None:
        if not CODE_RE.match(self.code):
            raise ValueError(f"bad code {self.code!r}: E or W and four digits")
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", self.name):
            raise ValueError(f"bad name {self.name!r} for {self.code}: kebab-case")

    @property
    def severity(self) -> Severity:
        """The default severity: `E` codes are errors, `W` codes warnings."""
        return Severity.ERROR if self.code.startswith("E") else Severity.WARNING

    @property
    def docs_path(self) -> str:
        """The page, relative to the repository root."""
        return f"docs/rules/{self.code}.md"


# The sections of the index: (title, the two digits after the letter that belong to it).
SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("Reading files and syntax (E00xx, E01xx)", ("00", "01")),
    ("Names (E02xx)", ("02",)),
    ("Types (E03xx)", ("03",)),
    ("Flows and signals (E04xx, W04xx)", ("04",)),
    ("Environments and credentials (E05xx)", ("05",)),
    ("SLOs (E06xx)", ("06",)),
    ("Objectives (E07xx, W07xx)", ("07",)),
    ("The ML boundary (E08xx, W08xx)", ("08",)),
    ("Suppressions (W09xx)", ("09",)),
    ("Targets: what an engine cannot take (E10xx, W10xx)", ("10",)),
    ("The Feast target (E11xx)", ("11",)),
    ("The BentoML target (E12xx)", ("12",)),
    ("The monitoring target (E13xx, W13xx)", ("13",)),
    ("Run policy, step returns, subflows, runtimes and alerts (E14xx, W14xx)", ("14",)),
]

# Every checked example and fix is appended to this clean program (tests/test_lint.py).
EXAMPLE_PRELUDE = """\
package demo
import std.connectors.{kafka, hive, s3, files, log}

env local { kafka = files("data/events"), hive = files("data/wh"), s3 = files("build/s3"), pager = log() }

source events: stream kafka(topic = "events", format = json) {
  schema { user_id: string, kind: enum(view, click), amount: int, ts: timestamp }
  event_time ts
  watermark 10s
}
entity user { key user_id: string }
features activity on user {
  from events
  views_1h = count(kind == view) over 1h every 5m
  checkpoint every 1m
  online ttl 1d
}
model scorer nondeterministic {
  framework sklearn
  inputs [activity.*]
  output score: float
}
"""

RULES: list[Rule] = [
    # ------------------------------------------------------------ reading files and syntax
    Rule("E0001", "unexpected-token",
         "Unexpected token: the parser names what it expected at this point.",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score float\n}\n",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n}\n",
         "The text does not follow the grammar here. The message names the token found and the "
         "note lists what may come instead; fix the text at the caret."),
    Rule("E0002", "unclosed-bracket",
         "An opening `{`, `(` or `[` is never closed; the message names the block and where it opened.",
         'flow nightly {\n  schedule daily\n  step fit bash("make fit") { retries 2 \n}\n',
         'flow nightly {\n  schedule daily\n  step fit bash("make fit") { retries 2 }\n}\n',
         "Add the missing closing bracket. The label points at the bracket that was opened."),
    Rule("E0003", "unexpected-character",
         "A character that cannot start any token (outside a string).",
         "flow nightly {\n  schedule daily\n  step fit bash('make train')\n}\n",
         'flow nightly {\n  schedule daily\n  step fit bash("make train")\n}\n',
         "Strings take double quotes; other stray characters (`$`, `;`, `@`) belong inside a string "
         "or nowhere."),
    Rule("E0004", "unterminated-string",
         "A string is not closed on its line.",
         'flow nightly {\n  schedule daily\n  step fit bash("make train)\n}\n',
         'flow nightly {\n  schedule daily\n  step fit bash("make train")\n}\n',
         "A string opens and closes on one line: add the missing `\"`. Write a line break as `\\n`."),
    Rule("E0005", "list-needs-brackets",
         "A clause that takes a bracketed list (`inputs`, `tags`, `kinds`) was given something else.",
         "model ranker nondeterministic {\n  framework sklearn\n  inputs activity.views_1h\n"
         "  output score: float\n}\n",
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.views_1h]\n"
         "  output score: float\n}\n",
         "Items are separated by commas, so a list inside an item always takes brackets."),
    Rule("E0006", "unknown-clause",
         "An unknown clause inside a block; the help names the closest clause that is allowed there.",
         'flow nightly {\n  schedule daily\n  step fit python("pkg.train:main") { retires 2 }\n}\n',
         'flow nightly {\n  schedule daily\n  step fit python("pkg.train:main") { retries 2 }\n}\n',
         "Usually a misspelt keyword; the note lists every clause the block accepts."),
    Rule("E0007", "bad-unit",
         "A number with a unit the language does not have (`16GB`, `1.5h`) or a space before the unit.",
         'flow nightly {\n  schedule daily\n  step fit python("pkg.train:main") { timeout 1.5h }\n}\n',
         'flow nightly {\n  schedule daily\n  step fit python("pkg.train:main") { timeout 1h30m }\n}\n',
         "Durations (`ms s m h d w`) and sizes (`Ki Mi Gi Ti`, `K M G T`) are whole numbers written "
         "right after their digits: `90m`, not `1.5h`; `16Gi`, not `16GB`."),
    Rule("E0008", "expression-too-deep",
         "An expression that nests more than 40 levels deep (operations inside operations, calls "
         "in calls, lists in lists).",
         'flow nightly {\n  schedule daily\n  step fit python("pkg.train:main") { gate ' + "not " * 41
         + 'auc > 0.8 }\n}\n',
         'flow nightly {\n  schedule daily\n  step fit python("pkg.train:main") { gate not auc > 0.8 }\n}\n',
         "Every stage that reads an expression walks it level by level — the compiler, Python, "
         "Airflow's templates, the SQL engines — so nesting has a bound, checked where the text is "
         "read. A row of one operator is not nesting: `a and b and c ...` or `a + b + c ...` is one "
         "level however long, and parentheses that change nothing (`((x))`) do not count. Name "
         "parts of a deep expression (a parameter, a feature, a metric the step computes), or write "
         "it as a row."),
    Rule("E0010", "not-utf8",
         "The file is not valid UTF-8; the position of the first bad byte is given.",
         "a .flow file saved as Latin-1, with `é` stored as the byte 0xe9\n",
         "the same file saved as UTF-8\n",
         "Re-save the file as UTF-8 (a BOM is accepted and ignored).", checked=False, lang="text"),
    Rule("E0011", "binary-file",
         "The file is binary (it contains NUL bytes).",
         "a compiled or compressed file named `model.flow` among the sources\n",
         "remove it, or exclude it in mlc.toml: [project] exclude = [\"model.flow\"]\n",
         "Only text files are programs. Exclude generated or binary files in `mlc.toml`.",
         checked=False, lang="text"),
    Rule("E0012", "file-too-large",
         "The file is larger than 16 MiB.",
         "a 20 MiB generated `tables.flow`\n",
         "split it into several files of one package, or generate less\n",
         "A program this large is almost always generated data; keep it out of the sources.",
         checked=False, lang="text"),
    Rule("E0013", "unreadable-file",
         "The file cannot be read (permissions, I/O error).",
         "a `secret.flow` that the user running `mlc` may not read (chmod 000)\n",
         "make it readable (chmod 644 secret.flow), or exclude it in mlc.toml\n",
         "The note gives the operating system's reason.", checked=False, lang="text"),
    Rule("E0103", "invalid-escape",
         "A string contains an escape that JSON does not have.",
         'flow nightly {\n  schedule daily\n  step fit bash("echo \\q")\n}\n',
         'flow nightly {\n  schedule daily\n  step fit bash("echo \\\\q")\n}\n',
         'Strings use JSON escapes: `\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX`. Double a backslash '
         "that is meant literally."),
    Rule("E0110", "clause-given-twice",
         "A clause that may appear once is given twice in the same block, or a `match` key twice.",
         'flow nightly {\n  schedule daily\n  schedule cron("0 3 * * *")\n  step fit bash("make")\n}\n',
         'flow nightly {\n  schedule cron("0 3 * * *")\n  step fit bash("make")\n}\n',
         "Keep one. The label points at the first one."),
    # ------------------------------------------------------------ YAML programs (E011x)
    Rule("E0111", "malformed-yaml",
         "A `.flow.yaml` document is not YAML that mlc reads: malformed, a duplicate key, a tag, an "
         "alias that contains itself, or too large after expanding aliases.",
         "package: demo\nflows:\n  train:\n    schedule: daily\n    schedule: hourly\n",
         "package: demo\nflows:\n  train:\n    schedule: daily\n    steps:\n      fit: bash(\"make fit\")\n",
         "A document holds mappings, lists, text, numbers and true/false only; no tags "
         "(`!!python/object` is rejected, never run).", lang="yaml"),
    Rule("E0112", "yaml-schema",
         "A `.flow.yaml` document does not have the shape of a program: an unknown or missing key, "
         "or a value of the wrong kind.",
         "package: demo\nflows:\n  train:\n    schedule: daily\n    steps:\n      fit: {run: 'python(\"pkg.train:main\")', retires: 2}\n",
         "package: demo\nflows:\n  train:\n    schedule: daily\n    steps:\n      fit: {run: 'python(\"pkg.train:main\")', retries: 2}\n",
         "`mlc schema --yaml` prints the JSON Schema that editors use to check and complete documents.",
         lang="yaml"),
    Rule("E0113", "yaml-flow-syntax",
         "A `.flow.yaml` value written in .flow syntax (an expression, call, type, trigger or "
         "schedule) does not parse; the span points into the YAML scalar.",
         "package: demo\nflows:\n  train:\n    schedule: daily\n    steps:\n      check: {run: 'bash(\"make\")', gate: 'auc >= '}\n",
         "package: demo\nflows:\n  train:\n    schedule: daily\n    steps:\n      check: {run: 'bash(\"make\")', gate: 'auc >= 0.8'}\n",
         lang="yaml"),
    # ------------------------------------------------------------ names
    Rule("E0201", "duplicate-name",
         "A name is declared twice in one package (or a step twice in one flow).",
         "signal user { version: string }\n",
         "signal user_changed external { version: string }\n",
         "Every declaration of a package shares one namespace, across its files: rename one."),
    Rule("E0202", "unknown-name",
         "An unknown name (a declaration, or in a step's expressions a parameter, `run.id` or the "
         "`foreach` variable); the help names the closest known one of the right kind.",
         "features activity_7d on usr {\n  from events\n  views_7d = count(kind == view) over 7d every 1h\n  checkpoint every 1m\n}\n",
         "features activity_7d on user {\n  from events\n  views_7d = count(kind == view) over 7d every 1h\n  checkpoint every 1m\n}\n",
         "Check the spelling, or import the name from the package that declares it."),
    Rule("E0203", "unknown-module",
         "An import of a module that is neither a package of the project nor of the standard library.",
         "import std.conectors.{kafka}\n",
         "import std.connectors.{kafka}\n",
         "The modules are the `package` names of the project's files and `std.*`."),
    Rule("E0204", "unknown-member",
         "An import of a member the module does not have.",
         "import std.connectors.{kafak}\n",
         "import std.connectors.{kafka}\n"),
    Rule("E0205", "wrong-kind-of-name",
         "A name of the wrong kind, e.g. `produces` naming a source instead of a model.",
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main") { produces events }\n}\n',
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main") { produces scorer }\n}\n',
         "The message says what the name is and what was expected."),
    Rule("E0206", "unknown-feature",
         "A model input or an expression naming a feature its group does not have.",
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.views_2h]\n"
         "  output score: float\n}\n",
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.views_1h]\n"
         "  output score: float\n}\n"),
    Rule("E0207", "connector-cannot-do-this",
         "A connector used for something it cannot do (a table-only connector for a stream, a store).",
         'source daily: stream hive(table = "wh.daily") {\n  schema { user_id: string, ds: date }\n'
         "  event_time ds\n}\n",
         'source daily: table hive(table = "wh.daily") {\n  schema { user_id: string, ds: date }\n'
         "  event_time ds\n  arrives every 1d delay 1h\n}\n",
         "`kafka` reads streams; `hive` and `s3` read tables and store offline features; `files` "
         "does everything (local runs)."),
    Rule("E0208", "unknown-connector-option",
         "A connector option that the connector does not have, or too many positional arguments.",
         'source clicks: stream kafka(topic = "clicks", fromat = json) {\n'
         "  schema { user_id: string, ts: timestamp }\n  event_time ts\n}\n",
         'source clicks: stream kafka(topic = "clicks", format = json) {\n'
         "  schema { user_id: string, ts: timestamp }\n  event_time ts\n}\n"),
    Rule("E0209", "missing-connector-option",
         "A required connector option is missing.",
         "source daily: table hive() {\n  schema { user_id: string, ds: date }\n  event_time ds\n"
         "  arrives every 1d\n}\n",
         'source daily: table hive(table = "wh.daily") {\n  schema { user_id: string, ds: date }\n'
         "  event_time ds\n  arrives every 1d\n}\n"),
    Rule("E0210", "missing-package",
         "A file has no `package` line while the other files of the project have one.",
         "flows:\n  train:\n    schedule: daily\n    steps:\n      fit: {run: 'python(\"pkg.train:main\")', uses: scorer}\n",
         "package: demo\nflows:\n  train:\n    schedule: daily\n    steps:\n      fit: {run: 'python(\"pkg.train:main\")', uses: scorer}\n",
         "Without the line, the file would be a package of its own: none of the other files' names "
         "would be visible in it, nor its names in them, and every use of one would be an unknown "
         "name. The error is reported once, at line 1, and the help shows the line to add, with the "
         "package of the other files of its folder (or else of the project); the file is then read "
         "as if the line were there, so the names it declares and uses are not reported as unknown. "
         "A project whose files all lack the line is one package without a name.", lang="yaml"),
    # ------------------------------------------------------------ types
    Rule("E0211", "ambiguous-feature-service",
         "Several feature services serve a model (`service v1 for m`, `service v2 for m`) and the model names "
         "none of them, or a model names a service that serves another model.",
         "model m {\n  inputs [activity.views_1h]\n}\nservice v1 for m { features [activity.views_1h] }\n"
         "service v2 for m { features [activity.*] }\n",
         "model m {\n  inputs [activity.views_1h]\n  service v2\n}\nservice v1 for m { features [activity.views_1h] }\n"
         "service v2 for m { features [activity.*] }\n",
         "A model is served and trained with one feature service. A model no service serves gets an implicit "
         "one holding exactly its inputs."),
    Rule("E0216", "service-lacks-input",
         "The feature service a model is served and trained with lacks one of the model's inputs.",
         "model m {\n  inputs [activity.views_1h]\n}\nservice v1 for m { features [scorer_inputs.twice] }\n"
         "features scorer_inputs on user {\n  request { n: int }\n  twice = n * 2\n}\n",
         "model m {\n  inputs [activity.views_1h]\n}\nservice v1 for m { features [activity.views_1h] }\n",
         "The served model reads its features through its service (Feast's `get_online_features` of the "
         "service, and the training set from the same service): an input the service does not hold would "
         "reach the model as missing at every request."),
    Rule("E0217", "stored-group-without-entity",
         "A feature group that reads a source (`from`) is on no entity.",
         "features clicks {\n  from events\n  n = count(*) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "features clicks on user {\n  from events\n  n = count(*) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "A stored group's rows are keyed by its entity's keys: the job computes one row per key, and the "
         "feature store serves them by key. Only a request-time group (no `from`: a Feast on-demand view) may "
         "leave out `on ENTITY`; what it reads of stored groups is keyed by the rows the caller sends."),
    Rule("E0301", "aggregation-type",
         "An aggregation over a column of the wrong type (`sum` of a string, `count(x)` where `x` "
         "is not a condition).",
         "features kinds on user {\n  from events\n  total = sum(kind) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "features kinds on user {\n  from events\n  total = sum(amount) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "`sum`, `avg`, `min` and `max` need a number column; `count(x)` counts the rows where the "
         "condition `x` holds."),
    Rule("E0302", "unknown-signal-field",
         "A signal match or `emits` payload names a field the signal does not declare.",
         "signal trained { version: string }\n"
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main") { emits signal trained(versoin = run.id) }\n}\n'
         "flow score {\n  trigger signal(trained)\n  step run bash(\"make score\")\n}\n",
         "signal trained { version: string }\n"
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main") { emits signal trained(version = run.id) }\n}\n'
         "flow score {\n  trigger signal(trained)\n  step run bash(\"make score\")\n}\n"),
    Rule("E0303", "type-mismatch",
         "A value of the wrong type: a payload field, a connector option, a plain column whose type "
         "differs from the source's, a parameter's default, a comparison of a number with a string.",
         "signal trained { version: string }\n"
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main") { emits signal trained(version = 3) }\n}\n'
         "flow score {\n  trigger signal(trained)\n  step run bash(\"make score\")\n}\n",
         "signal trained { version: string }\n"
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main") { emits signal trained(version = run.id) }\n}\n'
         "flow score {\n  trigger signal(trained)\n  step run bash(\"make score\")\n}\n"),
    Rule("E0304", "entity-key-not-in-source",
         "A feature group's entity key is missing from its source's schema.",
         "entity account { key account_id: string }\n"
         "features account_activity on account {\n  from events\n  views_1h = count(kind == view) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "entity account { key user_id: string }\n"
         "features account_activity on account {\n  from events\n  views_1h = count(kind == view) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "The group is keyed by its entity: its source must have the key columns, same name and type."),
    Rule("E0305", "event-time-not-a-time",
         "A source's `event_time` is not a `timestamp` or `date` column of its schema.",
         'source clicks: stream kafka(topic = "clicks", format = json) {\n'
         "  schema { user_id: string, ts: string }\n  event_time ts\n}\n",
         'source clicks: stream kafka(topic = "clicks", format = json) {\n'
         "  schema { user_id: string, ts: timestamp }\n  event_time ts\n}\n"),
    Rule("E0306", "unknown-column",
         "A feature refers to a column its sources do not have.",
         "features clicks_1h on user {\n  from events\n  n = count(knd == click) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "features clicks_1h on user {\n  from events\n  n = count(kind == click) over 1h every 5m\n  checkpoint every 1m\n}\n"),
    Rule("E0307", "unknown-aggregation",
         "A feature with a window (`over ...`) whose expression is not one of the aggregations "
         "(count, sum, avg, min, max, last, distinct_count).",
         "features recent_views on user {\n  from events\n  n_1h = cnt(kind == view) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "features recent_views on user {\n  from events\n  n_1h = count(kind == view) over 1h every 5m\n  checkpoint every 1m\n}\n",
         "A window only makes sense for an aggregation: the engines compute one value per key and "
         "window from the rows in it."),
    Rule("E0308", "value-out-of-range",
         "A setting with a value of the wrong kind or out of its range: `replicas` below 1, a "
         "negative `gpu`, a zero `timeout` or interval, an empty `confidence` range.",
         "model popular deterministic {\n  framework rule\n  output score: float\n"
         "  serve { replicas 0, timeout 40ms }\n}\n",
         "model popular deterministic {\n  framework rule\n  output score: float\n"
         "  serve { replicas 2, timeout 40ms }\n}\n",
         "Checked, the same for .flow and .flow.yaml files: `replicas` (1 to 1000), `timeout` (above "
         "zero), `cpu` (above zero, at most 1024), `memory` (above zero, at most 64Ti) and `gpu` (0 to 64) "
         "in `serve { }` and a step's `resources { }`; a step's `retries` (0 to 100) and `retry_delay` "
         "(0s to 3650d); step and feature-group timeouts, `every` schedules and arrival periods (above "
         "zero, at most 3650d); `confidence in LOW..HIGH`. Other settings belong to the backend that "
         "reads them."),
    Rule("E0309", "invalid-date",
         "A flow's `start` or `end` that is not a UTC date or time in ISO 8601, or an `end` that is not "
         "after the `start`.",
         'flow nightly {\n  schedule daily\n  start "2026-01-01"\n  end "31/12/2026"\n'
         '  step fit bash("make fit")\n}\n',
         'flow nightly {\n  schedule daily\n  start "2026-01-01"\n  end "2026-12-31"\n'
         '  step fit bash("make fit")\n}\n',
         "A date is a day (`\"2026-01-01\"`, its midnight UTC) or a time of day on a day "
         "(`\"2026-01-01T06:00\"`, `\"2026-01-01T06:00:00Z\"`). Every time is UTC: an offset other than "
         "`Z` or `+00:00` is refused rather than converted, so that every backend reads the same instant. "
         "The Airflow backend lowers them to the DAG's timezone-aware `start_date` and `end_date`."),
    Rule("E0310", "invalid-signal-uri",
         "A signal's `uri` that cannot be an Airflow asset address (`airflow://` or `mlc://`, whitespace, a "
         "password, no `scheme://`), or one that two signals share.",
         'signal landed external { uri "airflow://raw landed" }\n'
         'flow load {\n  trigger signal(landed)\n  step copy bash("make copy")\n}\n',
         'signal landed external { uri "s3://lake/raw/landed/" }\n'
         'flow load {\n  trigger signal(landed)\n  step copy bash("make copy")\n}\n',
         "A signal with a `uri` is the Airflow asset with that name and uri (`Asset(\"s3://lake/raw/landed/\")` "
         "in a hand-written DAG), so that DAGs not written in .flow can emit it or wait for it. Airflow reserves "
         "the `airflow` scheme, mlc the `mlc` scheme (every other signal's address). Two signals on one address "
         "would be one asset to Airflow: an event of either would start the flows that wait for the other."),
    Rule("E0311", "unknown-function",
         "An expression calls a function the language does not define. Only functions that every "
         "backend computes alike may be called (abs, ceil, coalesce, floor, length, lower, upper); "
         "a request-time feature is computed by the feature store, the others by Spark and Flink.",
         "features ctx on user {\n  request { amount: float }\n  scaled = log(amount)\n}\n",
         "features ctx on user {\n  request { amount: float }\n  scaled = abs(amount)\n}\n"),
    Rule("E0312", "unknown-type",
         "A type the language does not have (`key driver_id: banana`), an enum without members, a struct "
         "without fields, or typed members on another type.",
         "entity driver { key driver_id: banana }\n",
         "entity driver { key driver_id: int64 }\n",
         "Types: string, bool, int, int32, int64, float, float32, float64, bytes, date, timestamp, duration, "
         "enum(a, b), map, json, struct(name: type, ...) and lists `[type]`. `int` is int64 and `float` "
         "float64; the sized names say the width a feature store keeps."),
    Rule("E0313", "request-feature-cycle",
         "A request-time feature that reads itself, or request-time features that read each other in a "
         "cycle (`a = g.b`, `b = g.a`): no value could ever be computed.",
         "features g on user {\n  request { v: float }\n  a: float = g.a + v\n}\n",
         "features g on user {\n  request { v: float }\n  a: float = v + 1.0\n}\n"),
    Rule("E0314", "entity-mismatch",
         "A feature group reads a feature of a group on another entity whose keys it does not have: a "
         "group `on customer` cannot look up a `driver`-keyed value, there is no driver id to look it up by.",
         "entity driver { key driver_id: string }\nentity customer { key customer_id: string }\n"
         "source trips: table hive(table = \"wh.trips\") {\n  schema { driver_id: string, rate: float, ts: timestamp }\n"
         "  event_time ts\n}\nfeatures stats on driver {\n  from trips\n  rate: float\n}\n"
         "features ctx on customer {\n  request { v: float }\n  x: float = stats.rate + v\n}\n",
         "entity driver { key driver_id: string }\nentity customer { key customer_id: string }\n"
         "source trips: table hive(table = \"wh.trips\") {\n  schema { driver_id: string, rate: float, ts: timestamp }\n"
         "  event_time ts\n}\nfeatures stats on driver {\n  from trips\n  rate: float\n}\n"
         "features ctx on driver {\n  request { v: float }\n  x: float = stats.rate + v\n}\n",
         "A group on a composite entity may read groups on the entities whose keys it has: "
         "`member_title` (member_id, title_id) may read a `member` group."),
    Rule("E0315", "feature-group-shape",
         "A feature group or source the feature store cannot hold as written: more than one `from`, a plain "
         "column in a group with no source, a `registered` group (or one over a push source) with computed "
         "features, `on_demand` on a group that reads a source, a label view without a source, a push source "
         "without a table to land in, a request source without fields.",
         "features g on user {\n  from events\n  from events\n  amount: int\n  checkpoint every 1m\n}\n",
         "features g on user {\n  from events\n  amount: int\n  checkpoint every 1m\n}\n",
         "A `registered` group is the source's table as it stands: no Spark or Flink job computes it and no "
         "Airflow DAG runs for it; the feature store reads the table directly."),
    # ------------------------------------------------------------ flows and signals
    Rule("E0401", "step-cycle",
         "The steps of a flow form a cycle; the message walks it.",
         'flow train {\n  schedule daily\n  step fit bash("make fit")\n  step check bash("make check")\n'
         "  fit >> check >> fit\n}\n",
         'flow train {\n  schedule daily\n  step fit bash("make fit")\n  step check bash("make check")\n'
         "  fit >> check\n}\n",
         "A flow is a DAG: remove the edge that closes the loop."),
    Rule("E0402", "flow-trigger-cycle",
         "Flows trigger each other in a cycle through `on_finish` and signals; the message walks it.",
         'flow a {\n  trigger on_finish(b)\n  step x bash("make a")\n}\n'
         'flow b {\n  trigger on_finish(a)\n  step y bash("make b")\n}\n',
         'flow a {\n  schedule daily\n  step x bash("make a")\n}\n'
         'flow b {\n  trigger on_finish(a)\n  step y bash("make b")\n}\n',
         "Such flows would start each other forever, or never: start one of them on a schedule."),
    Rule("W0403", "unconnected-step",
         "In a flow with edges, a step connected to no other step (it runs alone at the flow's start).",
         'flow train {\n  schedule daily\n  step fit bash("make fit")\n  step check bash("make check")\n'
         '  step extra bash("echo hi")\n  fit >> check\n}\n',
         'flow train {\n  schedule daily\n  step fit bash("make fit")\n  step check bash("make check")\n'
         '  step extra bash("echo hi")\n  fit >> check >> extra\n}\n',
         "Often a forgotten edge. If the step really is independent, say so with a suppression or "
         "move it to a flow of its own."),
    Rule("E0404", "edge-to-unknown-step",
         "An edge names a step the flow does not have.",
         'flow train {\n  schedule daily\n  step fit bash("make fit")\n  step check bash("make check")\n'
         "  fit >> chek\n}\n",
         'flow train {\n  schedule daily\n  step fit bash("make fit")\n  step check bash("make check")\n'
         "  fit >> check\n}\n"),
    Rule("E0405", "unknown-step-kind",
         "An unknown step kind (the kinds are python, spark, flink, bash, materialize, deploy).",
         'flow train {\n  schedule daily\n  step run sprak("jobs/score.py")\n}\n',
         'flow train {\n  schedule daily\n  step run spark("jobs/score.py")\n}\n'),
    Rule("E0406", "bad-step-argument",
         "A step's argument has the wrong form (e.g. `python(\"module\")` without `:function`).",
         'flow train {\n  schedule daily\n  step fit python("pkg.train")\n}\n',
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main")\n}\n',
         "A python step names its entry point as \"module.path:function\", each part a Python name that "
         "is not a keyword; `spark`, `flink` and `bash` take one string (a command is not empty), "
         "`materialize` a feature group and `deploy` a model. A step takes one argument: values reach a "
         "job through `env { NAME = value }` and the flow's parameters."),
    Rule("E0407", "job-path-outside-project",
         "A `spark(...)` or `flink(...)` job that is not the path of a `.py` file inside the project "
         "(absolute, with `..`, or not ending in `.py`).",
         'flow nightly {\n  schedule daily\n  step score spark("/opt/jobs/score.py")\n}\n',
         'flow nightly {\n  schedule daily\n  step score spark("jobs/score.py")\n}\n',
         "Jobs run from the deployed project's root, so the path is relative to it: letters, digits, "
         "`_`, `.`, `-` and `/`, not starting with `/` or `-`, no `..` part."),
    Rule("E0409", "flow-without-steps",
         "A flow with no steps (`steps: {}` in YAML): there is nothing to run, and Airflow rejects an "
         "empty DAG.",
         "flow nightly {\n  schedule daily\n}\n",
         'flow nightly {\n  schedule daily\n  step fit bash("make fit")\n}\n',
         "Add a step, or remove the flow."),
    Rule("W0410", "signal-never-awaited",
         "A signal is emitted but no flow waits for it.",
         "signal trained { version: string }\n"
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main") { emits signal trained(version = run.id) }\n}\n',
         "signal trained { version: string }\n"
         'flow train {\n  schedule daily\n  step fit python("pkg.train:main") { emits signal trained(version = run.id) }\n}\n'
         "flow score {\n  trigger signal(trained)\n  step run bash(\"make score\")\n}\n",
         "Nothing reacts to it: add the flow that should, or stop emitting it. The labels show the "
         "first three steps that emit it; a note counts the others (`and 4 more emit sites`)."),
    Rule("E0411", "signal-never-emitted",
         "A flow can never start: its trigger cannot fire, because every way through it waits for a "
         "signal that no flow emits and that is not declared `external`.",
         "signal catalog_refreshed { ds: date }\n"
         "flow score {\n  trigger signal(catalog_refreshed)\n  step run bash(\"make score\")\n}\n",
         "signal catalog_refreshed external { ds: date }\n"
         "flow score {\n  trigger signal(catalog_refreshed)\n  step run bash(\"make score\")\n}\n",
         "The trigger is read as its `and`/`or` tree, with every signal that nothing sends as never "
         "arriving: `signal(a) and signal(b)` never fires if either is never sent, `signal(a) or "
         "signal(b)` only if both are never sent. The error names the flow that never starts and "
         "labels each signal it waits for in vain. Emit the signal from a step, or declare it "
         "`external` when something outside the program emits it. A signal no flow emits inside a "
         "branch of an `or` that can still fire is W0415, not this error: the flow does start."),
    Rule("W0412", "unused-signal",
         "A signal is declared but neither emitted nor awaited.",
         "signal spare { version: string }\n",
         "",
         "Remove it, or use it."),
    Rule("E0413", "unknown-schedule",
         "A schedule that is neither a preset (`hourly`, `daily`, `weekly`, `monthly`, `yearly`, "
         "`annually`), an interval (`every 6h`) nor `cron(\"...\")`: `schedule Daily`, `schedule None`.",
         'flow nightly {\n  schedule Daily\n  step fit bash("make fit")\n}\n',
         'flow nightly {\n  schedule daily\n  step fit bash("make fit")\n}\n',
         "Presets are lower case. A flow that should not start on a schedule has no `schedule` line "
         "(it starts by hand or by its `trigger`)."),
    Rule("E0414", "invalid-cron",
         "A `cron(\"...\")` schedule that is not five fields croniter (what Airflow uses) accepts, or "
         "that never fires; the message names the field (`minute 61 is out of range 0-59`).",
         'flow nightly {\n  schedule cron("61 3 * * *")\n  step fit bash("make fit")\n}\n',
         'flow nightly {\n  schedule cron("1 3 * * *")\n  step fit bash("make fit")\n}\n',
         "The fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC) and "
         "day of week (0-7 or SUN-SAT; 0 and 7 are Sunday), each `*`, a number, a range `a-b`, a list "
         "`a,b` or a step `*/n`. `0 0 30 2 *` is rejected too: February has no 30th. Presets are "
         "written without `cron`: `schedule daily`."),
    Rule("W0415", "dead-trigger-branch",
         "A branch of a flow's trigger can never fire (it waits for a signal that no flow emits and "
         "that is not `external`), while another branch of its `or` can: the flow starts, but never "
         "that way.",
         "signal a { v: string }\nsignal b { v: string }\n"
         'flow make {\n  schedule daily\n  step s bash("make a") { emits signal a(v = "1") }\n}\n'
         'flow use {\n  trigger signal(a) or signal(b)\n  step run bash("make use")\n}\n',
         "signal a { v: string }\nsignal b external { v: string }\n"
         'flow make {\n  schedule daily\n  step s bash("make a") { emits signal a(v = "1") }\n}\n'
         'flow use {\n  trigger signal(a) or signal(b)\n  step run bash("make use")\n}\n',
         "The warning labels the dead branch and the signals it waits for in vain. Emit them from a "
         "step, declare them `external` if something outside the program sends them, or remove the "
         "branch. When no branch can fire, the flow never starts: that is E0411."),
    Rule("E0420", "unknown-artifact-kind",
         "An artifact of a kind the language does not have (the kinds are `dataset`, `file` and `metrics`).",
         'artifact training_set: table s3("datasets/training_set")\n'
         'flow build {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n}\n'
         'flow train {\n  trigger on_finish(build)\n  step fit bash("make fit") { reads training_set }\n}\n',
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow build {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n}\n'
         'flow train {\n  trigger on_finish(build)\n  step fit bash("make fit") { reads training_set }\n}\n',
         "A `dataset` is rows with a schema (often partitioned), a `file` one file (a model, a report), "
         "`metrics` what a step measured. Data that something outside the program lands is a `source`."),
    Rule("E0421", "artifact-read-before-written",
         "A step reads an artifact that a step of its own flow writes, without running after that step.",
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow train {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n'
         '  step fit bash("make fit") { reads training_set }\n}\n',
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow train {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n'
         '  step fit bash("make fit") { reads training_set }\n  snap >> fit\n}\n',
         "Without an edge the two steps run at once: the reader sees last run's data, or a half-written "
         "set. The compiler derives a data edge from every `writes`/`reads` pair and requires the step "
         "edges to order it: add the edge the error names."),
    Rule("E0422", "artifact-writer-does-not-start-reader",
         "A step reads an artifact written only in other flows, and none of them starts the reader's flow "
         "(through `on_finish` or a signal, directly or along a chain).",
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow build {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n}\n'
         'flow train {\n  schedule daily\n  step fit bash("make fit") { reads training_set }\n}\n',
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow build {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n}\n'
         'flow train {\n  trigger on_finish(build)\n  step fit bash("make fit") { reads training_set }\n}\n',
         "Two flows on their own clocks race: the reader may run before the set is written, or while it "
         "is. Start the reader from the writer (`trigger on_finish(build)`, or a signal the writing step "
         "emits); the freshness calculus then counts the chain too."),
    Rule("E0423", "artifact-never-written",
         "A step reads an artifact that no step writes.",
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow train {\n  schedule daily\n  step fit bash("make fit") { reads training_set }\n}\n',
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow train {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n'
         '  step fit bash("make fit") { reads training_set }\n  snap >> fit\n}\n',
         "Nothing in the program produces it, so nothing says when it is fresh or that it exists. Add "
         "`writes NAME` to the step that produces it; data landed by something outside the program is a "
         "`source` (a table with its `arrives` facts)."),
    Rule("W0424", "artifact-never-read",
         "A step writes an artifact that no step reads.",
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow build {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n}\n',
         'artifact training_set: dataset s3("datasets/training_set")\n'
         'flow build {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n'
         '  step fit bash("make fit") { reads training_set }\n  snap >> fit\n}\n',
         "Work whose result nothing uses: add `reads NAME` to the step that uses it, or stop writing it. "
         "Suppress it (`# mlc: ignore[W0424]`) for data that people or other systems read."),
    Rule("E0425", "artifact-schema-mismatch",
         "The two ends of one place disagree: two artifacts (or an artifact and a table source) at one "
         "location with different schemas, or a `partition` that is not a column of the schema.",
         'artifact training_set: dataset s3("datasets/training_set") {\n'
         '  schema { user_id: string, label: int, ds: date }\n}\n'
         'source landed: table s3("datasets/training_set") {\n'
         '  schema { user_id: string, label: float, ds: date }\n  event_time ds\n}\n'
         'flow build {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n}\n'
         'flow train {\n  trigger on_finish(build)\n  step fit bash("make fit") { reads training_set }\n}\n',
         'artifact training_set: dataset s3("datasets/training_set") {\n'
         '  schema { user_id: string, label: int, ds: date }\n}\n'
         'source landed: table s3("datasets/training_set") {\n'
         '  schema { user_id: string, label: int, ds: date }\n  event_time ds\n}\n'
         'flow build {\n  schedule daily\n  step snap bash("make set") { writes training_set }\n}\n'
         'flow train {\n  trigger on_finish(build)\n  step fit bash("make fit") { reads training_set }\n}\n',
         "A producer's package and a consumer's may each declare the data they share; what one writes "
         "the other must be able to read, so the declarations of one place (the connector and its path) "
         "must say the same columns and types. The note names the first column that differs."),
    Rule("E0426", "bad-branch-name",
         "`mlc compile --branch NAME` with a name that cannot name a test namespace: lower-case letters "
         "and digits, words joined by `.`, `_` or `-`, at most 64 characters.",
         "mlc compile . --env prod --branch 'Test Alice'", "mlc compile . --env prod --branch test.alice",
         "The branch prefixes every DAG id and every asset of a flow, a non-external signal, a feature group "
         "or an artifact, and names the folder of the test deployment's artifacts (`branches/NAME/`), so it "
         "must be valid in each of them.", checked=False, lang="shell"),
    Rule("E0427", "bad-parameter-binding",
         "A parameter bound to something no event that starts the flow carries: `S.F` where `S` is not a "
         "signal of the flow's trigger or has no field `F` (the bindings are `run.date` and `SIGNAL.FIELD`).",
         "signal landed external { ds: date }\n"
         'flow load {\n  trigger signal(landed)\n  param ds: date = landed.day\n  step run bash("make load")\n}\n',
         "signal landed external { ds: date }\n"
         'flow load {\n  trigger signal(landed)\n  param ds: date = landed.ds\n  step run bash("make load")\n}\n',
         "A bound parameter takes its value when the run starts: from the newest event of the signal that "
         "started it, or from the run's logical date (`run.date`). A run started by hand has no event: it "
         "must pass the parameter (Airflow's run conf), or the run's first task fails and says which."),
    Rule("E0428", "bad-trigger-join",
         "`trigger ... match KEY` where a signal of the trigger lacks the key or the signals disagree on its "
         "type, or the trigger waits for fewer than two signals or not for all of them (`or`).",
         "signal landed external { ds: date }\nsignal ready external { day: date }\n"
         'flow load {\n  trigger signal(landed) and signal(ready) match ds\n  step run bash("make load")\n}\n',
         "signal landed external { ds: date }\nsignal ready external { ds: date }\n"
         'flow load {\n  trigger signal(landed) and signal(ready) match ds\n  step run bash("make load")\n}\n',
         "`match ds` starts one run for two events that carry the same `ds`; a pair that disagrees starts "
         "no step (the run's `trigger-match` task skips them all). Every signal of the trigger must carry "
         "the key, with one type."),
    # ------------------------------------------------------------ environments and credentials
    Rule("E0501", "env-missing-binding",
         "An `env` has no binding for a connector that a source or an offline store needs.",
         'env staging { hive = files("data/wh"), s3 = files("build/s3") }\n',
         'env staging { kafka = files("data/events"), hive = files("data/wh"), s3 = files("build/s3") }\n',
         "Each env binds every logical connector the program uses."),
    Rule("E0502", "literal-credential",
         "A credential written as a literal string where `secret(\"name\")` belongs.",
         'env prod {\n  kafka = kafka(bootstrap = "b:9092", credentials = "hunter2")\n'
         '  hive = hive(metastore = "thrift://m:9083")\n  s3 = s3(bucket = "b")\n}\n',
         'env prod {\n  kafka = kafka(bootstrap = "b:9092", credentials = secret("kafka-sasl"))\n'
         '  hive = hive(metastore = "thrift://m:9083")\n  s3 = s3(bucket = "b")\n}\n',
         "Programs are committed and generated code is deployed: a secret in either leaks. "
         "`secret(\"name\")` is resolved by each target (Airflow connections, environment variables)."),
    # ------------------------------------------------------------ SLOs
    Rule("E0503", "binding-cannot-serve",
         "An env binds a logical connector to a kind that cannot serve a use of it: a Kafka binding "
         "used by a Hive table, an offline store bound to Hive.",
         'env prod { kafka = kafka(bootstrap = "b:9092"), hive = kafka(bootstrap = "b:9092") }\n'
         'source daily: table hive(table = "wh.daily") {\n  schema { user_id: string, ds: date }\n'
         '  event_time ds\n}\n',
         'env prod { kafka = kafka(bootstrap = "b:9092"), hive = hive(metastore = "thrift://m:9083") }\n'
         'source daily: table hive(table = "wh.daily") {\n  schema { user_id: string, ds: date }\n'
         '  event_time ds\n}\n',
         "Every env says how each logical connector is reached there. `files(...)` serves any use "
         "(a topic, a table or a path becomes a folder under its root); `kafka(...)` serves topics, "
         "`hive(...)` tables and `s3(...)` paths. An offline store holds Parquet files, so it needs "
         "files or s3. The compiler resolves every source and store for every env "
         "(`ir.json`'s `environments`), so this is found by `mlc check`, not by a job at run time."),
    Rule("E0601", "slo-template-arity",
         "An SLO template used with the wrong number of arguments, or an SLO without parameters "
         "used as a template.",
         "slo fresh(target, bound) { freshness(target) <= bound }\nslo s = fresh(scorer)\n",
         "slo fresh(target, bound) { freshness(target) <= bound }\nslo s = fresh(scorer, 3d)\n"),
    # ------------------------------------------------------------ objectives
    Rule("E0701", "freshness-objective-unmet",
         "A freshness objective (a group's `freshness` or a `freshness(...)` SLO) that the worst path "
         "cannot meet; the notes walk the path hop by hop.",
         "slo scorer_fresh { freshness(scorer) <= 1m }\n",
         "slo scorer_fresh { freshness(scorer) <= 10m }\n",
         "Staleness is computed from the program: a table's `every + delay`, a schedule's longest gap "
         "plus its `timeout`, a stream's watermark + window slide + checkpoint interval. Raise the "
         "objective or make the slowest hop faster; `mlc explain freshness NAME` prints the table."),
    Rule("W0702", "freshness-unprovable",
         "A freshness objective that cannot be proved because a fact is missing; the message names it.",
         'source daily: table hive(table = "wh.daily") {\n  schema { user_id: string, spend: float, ds: date }\n'
         "  event_time ds\n}\n"
         "features spend on user {\n  from daily\n  spend_7d = sum(spend) over 7d\n  schedule daily\n"
         "  timeout 1h\n  freshness <= 3d\n}\n",
         'source daily: table hive(table = "wh.daily") {\n  schema { user_id: string, spend: float, ds: date }\n'
         "  event_time ds\n  arrives every 1d delay 2h\n}\n"
         "features spend on user {\n  from daily\n  spend_7d = sum(spend) over 7d\n  schedule daily\n"
         "  timeout 1h\n  freshness <= 3d\n}\n",
         "State the missing fact (a table's `arrives every ... delay ...`, a group's `checkpoint every`, "
         "a step's `timeout`), or remove the objective."),
    Rule("E0703", "completion-objective-unmet",
         "A `completion(flow) by \"HH:MM\"` that the schedule, trigger chain and step timeouts cannot "
         "meet (or a malformed time).",
         'flow nightly {\n  schedule cron("0 1 * * *")\n  step fit python("pkg.train:main") { timeout 6h }\n}\n'
         'slo nightly_done { completion(nightly) by "06:00" }\n',
         'flow nightly {\n  schedule cron("0 1 * * *")\n  step fit python("pkg.train:main") { timeout 4h }\n}\n'
         'slo nightly_done { completion(nightly) by "06:00" }\n',
         "Start the flow earlier, or shorten its slowest steps (retries count: each attempt may take "
         "the whole timeout)."),
    Rule("W0704", "completion-unprovable",
         "A completion objective that cannot be proved because a fact is missing.",
         'flow nightly {\n  schedule cron("0 1 * * *")\n  step fit python("pkg.train:main")\n}\n'
         'slo nightly_done { completion(nightly) by "06:00" }\n',
         'flow nightly {\n  schedule cron("0 1 * * *")\n  step fit python("pkg.train:main") { timeout 4h }\n}\n'
         'slo nightly_done { completion(nightly) by "06:00" }\n'),
    Rule("E0705", "serve-timeout-over-latency",
         "A latency objective shorter than the model's serve timeout.",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 80ms }\n}\nslo ranker_fast { latency(ranker) p99 <= 50ms }\n",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 40ms }\n}\nslo ranker_fast { latency(ranker) p99 <= 50ms }\n",
         "A request may wait the whole timeout: make the timeout at most the objective."),
    Rule("E0706", "fallback-over-latency",
         "A latency objective shorter than the serve timeout plus the fallback's timeout.",
         "model rules deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 30ms }\n}\n"
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n  output score: float\n"
         "  confidence in 0.0..1.0\n  fallback rules when confidence < 0.5 or unavailable\n"
         "  serve { timeout 40ms }\n}\nslo ranker_fast { latency(ranker) p99 <= 50ms }\n",
         "model rules deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 10ms }\n}\n"
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n  output score: float\n"
         "  confidence in 0.0..1.0\n  fallback rules when confidence < 0.5 or unavailable\n"
         "  serve { timeout 40ms }\n}\nslo ranker_fast { latency(ranker) p99 <= 50ms }\n",
         "Shorten either timeout, or use a faster fallback."),
    Rule("W0707", "latency-unbounded",
         "A latency objective for a model with no serve timeout.",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "}\nslo ranker_fast { latency(ranker) p99 <= 50ms }\n",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 40ms }\n}\nslo ranker_fast { latency(ranker) p99 <= 50ms }\n",
         "Declare `serve { timeout ... }` on the model."),
    # ------------------------------------------------------------ the ML boundary
    Rule("E0801", "served-model-without-fallback",
         "A probabilistic model is served with no fallback.",
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n  output score: float\n"
         "  serve { replicas 2 }\n}\n",
         "model rules deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n}\n"
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n  output score: float\n"
         "  confidence in 0.0..1.0\n  fallback rules when confidence < 0.5 or unavailable\n"
         "  serve { replicas 2 }\n}\n",
         "A served ML model can be unavailable or unsure: name the deterministic model (rules, a "
         "popularity list) that answers then."),
    Rule("W0802", "probabilistic-fallback",
         "A model's fallback is itself probabilistic.",
         "model backup nondeterministic {\n  framework sklearn\n  inputs [activity.views_1h]\n  output score: float\n}\n"
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n  output score: float\n"
         "  confidence in 0.0..1.0\n  fallback backup when confidence < 0.5 or unavailable\n}\n",
         "model backup deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n}\n"
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n  output score: float\n"
         "  confidence in 0.0..1.0\n  fallback backup when confidence < 0.5 or unavailable\n}\n",
         "A fallback is what answers when the model cannot be trusted; another ML model may fail the "
         "same way."),
    Rule("E0803", "confidence-threshold-out-of-range",
         "A confidence threshold outside the model's declared confidence range, or no range declared.",
         "model rules deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n}\n"
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n  output score: float\n"
         "  confidence in 0.0..1.0\n  fallback rules when confidence < 50 or unavailable\n}\n",
         "model rules deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n}\n"
         "model ranker nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n  output score: float\n"
         "  confidence in 0.0..1.0\n  fallback rules when confidence < 0.5 or unavailable\n}\n",
         "A threshold outside the range makes the fallback always or never taken."),
    Rule("W0804", "deterministic-step-after-ml",
         "A step declared `deterministic` that consumes probabilistic output with no gate between.",
         'flow score {\n  schedule daily\n  step predict python("pkg.score:main") { uses scorer }\n'
         '  step publish python("pkg.publish:main") { deterministic }\n  predict >> publish\n}\n',
         'flow score {\n  schedule daily\n  step predict python("pkg.score:main") { uses scorer, gate auc >= 0.8 }\n'
         '  step publish python("pkg.publish:main") { deterministic }\n  predict >> publish\n}\n',
         "Everything downstream of a nondeterministic model is probabilistic until a gate (a step's "
         "`gate`, a model's `fallback ... when confidence < X`) stands between."),
    # ------------------------------------------------------------ suppressions (mlc lint)
    Rule("W0901", "unused-suppression",
         "A `# mlc: ignore[CODE]` comment that suppresses nothing.",
         'flow nightly {\n  schedule daily\n  step fit bash("make fit")  # mlc: ignore[W0403]\n}\n',
         'flow nightly {\n  schedule daily\n  step fit bash("make fit")\n}\n',
         "Reported by `mlc lint` only. The code was fixed, moved, or never there: remove it from the "
         "comment so that the comment does not hide a future finding.", inline=False),
    Rule("W0902", "invalid-suppression",
         "A `# mlc: ignore` comment that names no code, an unknown code, or an error code.",
         'flow nightly {\n  schedule daily\n  step fit bash("make fit")  # mlc: ignore[W403]\n}\n',
         'flow nightly {\n  schedule daily\n  step fit bash("make fit")\n}\n',
         "Reported by `mlc lint` only. A suppression names warning codes in brackets: "
         "`# mlc: ignore[W0403]` or `# mlc: ignore[W0403, W0410]`. Errors cannot be suppressed: a "
         "program with errors does not compile.", inline=False),
    # ------------------------------------------------------------ the Airflow target (compile --target airflow)
    Rule("E1001", "airflow-id-invalid",
         "A DAG id or task id longer than 250 characters or not made of `[A-Za-z0-9_.-]`, or a tag longer "
         "than 100 characters: Airflow cannot take it.",
         'flow nightly {\n  tags ["' + "t" * 101 + '"]\n  step fit bash("make fit")\n}\n',
         'flow nightly {\n  tags ["training"]\n  step fit bash("make fit")\n}\n',
         "Reported by `mlc check` (the Airflow backend's validation, for every env). Task ids are the step's name, and `NAME-gate`, "
         "`NAME-when`, `NAME-foreach`, `NAME-emits-SIGNAL` for the tasks a step adds: shorten the name.",
         checked=False),
    Rule("E1002", "airflow-dag-id-clash",
         "Two flows or batch feature groups would give DAGs the same id.",
         "# package `features` has a flow `x`, and so does another package: the flow's DAG is `features.x`,\n"
         "# which is also the DAG of a batch feature group named `x`\n",
         "# rename the flow or the feature group\n",
         "Reported by `mlc check` (the Airflow backend's validation, for every env). A flow's DAG is named after the flow (its qualified "
         "name when two packages share it) and a feature group's `features.NAME`: rename one of them. A flow named "
         "`mlc_airflow_runtime...` is reported too: its file would be named as the module of helpers beside the DAGs.",
         checked=False, lang="text"),
    Rule("E1003", "airflow-param-without-default",
         "A parameter without a default on a flow that starts by itself (a schedule or a trigger).",
         'flow nightly {\n  schedule daily\n  param limit: int\n  step fit bash("make fit")\n}\n',
         'flow nightly {\n  schedule daily\n  param limit: int = 100\n  step fit bash("make fit")\n}\n',
         "Reported by `mlc check` (the Airflow backend's validation, for every env). A run that Airflow starts has no one to ask for "
         "the value: give the parameter a default (a run started by hand may still override it).",
         checked=False),
    Rule("E1004", "airflow-unsupported-expression",
         "An expression or value that cannot be lowered to Airflow: a function call in a flow expression, "
         "a non-literal parameter default or resource.",
         'flow nightly {\n  schedule daily\n  param region: string = "us"\n'
         '  step fit bash("make fit") { when lower(region) == "us" }\n}\n',
         'flow nightly {\n  schedule daily\n  param region: string = "us"\n'
         '  step fit bash("make fit") { when region == "us" }\n}\n',
         "Reported by `mlc check` for every env (the Airflow backend's validation). Flow expressions may use "
         "the flow's parameters, `run.id`, the `foreach` variable and, in a `gate` or a payload, the fields "
         "of the step's result; a step's target is the language's rule (E0406).",
         checked=True),
    Rule("W1005", "airflow-deadline-not-lowered",
         "A `completion` objective that does not become an Airflow deadline: its flow has no fixed daily "
         "start time.",
         'flow hourly_sync {\n  schedule every 6h\n  step sync bash("make sync") { timeout 10m }\n}\n'
         'slo synced { completion(hourly_sync) by "06:00" }\n',
         'flow hourly_sync {\n  schedule cron("0 1 * * *")\n  step sync bash("make sync") { timeout 10m }\n}\n'
         'slo synced { completion(hourly_sync) by "06:00" }\n',
         "Reported by `mlc check` (the Airflow backend's validation, for every env). A DeadlineAlert counts from the run's logical "
         "date; a time of day can be counted from it only when the flow starts once a day at a fixed time.",
         checked=False),
    Rule("W1006", "airflow-foreach-hides-param",
         "A `foreach` variable with the name of a parameter of the flow: inside the step the name means "
         "the element.",
         'flow score {\n  param region: [string] = ["us"]\n  step s bash("make") { foreach region in region }\n}\n',
         'flow score {\n  param regions: [string] = ["us"]\n  step s bash("make") { foreach region in regions }\n}\n',
         "Reported by `mlc check` (the Airflow backend's validation, for every env). Rename the variable or the parameter.",
         checked=False),
    Rule("W1007", "airflow-resource-recorded-only",
         "A step resource with no executor setting: it is recorded on the task but asks for nothing.",
         'flow fit {\n  step train python("pkg.train:main") { resources { cpu 4, tpu 1 } }\n}\n',
         'flow fit {\n  step train python("pkg.train:main") { resources { cpu 4, gpu 1 } }\n}\n',
         "Reported by `mlc check` (the Airflow backend's validation, for every env). Known resources: cpu, memory, gpu, "
         "ephemeral_storage (or disk).",
         checked=False),
    Rule("E1008", "airflow-catchup-without-start",
         "`catchup true` on a flow with no `start`: Airflow catches up from a start date, and the flow states none.",
         'flow nightly {\n  schedule daily\n  catchup true\n  step fit bash("make fit")\n}\n',
         'flow nightly {\n  schedule daily\n  start "2026-01-01"\n  catchup true\n  step fit bash("make fit")\n}\n',
         "Reported by `mlc check` (the Airflow backend's validation, for every env). Give the flow its first "
         "date (`start \"2026-01-01\"`, UTC): Airflow then runs every interval from that date on that has not "
         "run yet. Or remove `catchup true`; a run that an outage missed can be started by hand.",
         checked=False),
    # ------------------------------------------------------------ the Spark and Flink targets
    Rule("E1011", "feature-group-not-runnable",
         "A stored feature group that the Spark and Flink jobs cannot compute as written: windows that "
         "advance at different steps, a window that is not a whole number of its steps, a feature named "
         "like a column of the feature table, more than one source, a source without `event_time`, an "
         "entity key that is not a column of the source, a list-typed column.",
         'features activity on member {\n  from events\n  views_1h = count(kind == view) over 1h every 5m\n'
         '  views_1d = count(kind == view) over 1d every 1h\n}\n',
         'features activity on member {\n  from events\n  views_1h = count(kind == view) over 1h every 5m\n'
         '  views_1d = count(kind == view) over 1d every 5m\n}\n',
         "Reported by `mlc check` (the Spark and Flink backends' validation, for every env; the same plan: "
         "docs/targets/spark.md). A group emits one row per entity and step of its windows, so all its "
         "windows share one `every`; split a group whose features need different steps.",
         checked=False),
    Rule("E1012", "spark-step-path-invalid",
         "A `spark(...)` step whose job is not a `.py` path inside the project (absolute, with `..`, or "
         "not a string).",
         'flow nightly {\n  schedule daily\n  step score spark("/opt/jobs/score.py")\n}\n',
         'flow nightly {\n  schedule daily\n  step score spark("jobs/score.py")\n}\n',
         "No longer reported: since the job path became a rule of the language, `mlc check` reports "
         "it as E0407 (and a `spark(...)` that does not take one string as E0406). The code stays "
         "reserved so that old suppressions and baselines keep their meaning.",
         checked=False),
    Rule("E1013", "flink-source-unsupported",
         "A stream feature group whose source the Flink job cannot read in this env: a stream bound to a "
         "connector other than Kafka or files, an Avro stream read from files, an offline store that is "
         "not files or S3.",
         'env local { kafka = hive(metastore = "thrift://m:9083") }\n',
         'env local { kafka = files("data/events") }\n',
         "Reported by `mlc check` (the Flink backend's validation, for every env). Locally a stream is a folder of JSON lines (or CSV) "
         "per topic; in prod a Kafka topic (docs/targets/flink.md).",
         checked=False, lang="text"),
    Rule("W1014", "flink-checkpoint-missing",
         "A stream feature group without `checkpoint every`: its Flink job checkpoints every 60 s.",
         'features activity on member {\n  from events\n  views_1h = count(kind == view) over 1h every 5m\n}\n',
         'features activity on member {\n  from events\n  views_1h = count(kind == view) over 1h every 5m\n'
         '  checkpoint every 1m\n}\n',
         "Reported by `mlc check` (the Flink backend's validation, for every env). Results reach the offline and online stores when a "
         "checkpoint commits, and the freshness of the group is unknown without one.",
         checked=False),
    Rule("E1090", "bundle-not-closed",
         "Internal error: a generated file references a file of the bundle that no backend wrote.",
         "",
         "",
         "`mlc compile` lists every file it writes in `manifest.json`, with the files each one "
         "references (a DAG and the Spark job it submits). Before writing, it proves that every "
         "reference into a compiled backend names a file of the bundle. A failure is a bug in mlc, "
         "not in the program: nothing is written; please report it with the program.",
         checked=False, lang="text"),
    # ------------------------------------------------------------ the Feast target (compile --target feast)
    Rule("E1101", "feast-not-registered",
         "Something the feature store would serve reads what the repository does not hold: a model, "
         "service or request-time group reading a stored group without an `offline` table (Feast reads "
         "features from it), a registered group without a source or an `event_time`, an on-demand view "
         "with no source.",
         "features health on account {\n  from daily\n  hours_7d = sum(hours) over 7d\n  schedule daily\n}\n"
         "model m deterministic { inputs [health.hours_7d] }\n",
         "features health on account {\n  from daily\n  hours_7d = sum(hours) over 7d\n  schedule daily\n"
         "  offline s3(\"features/health\")\n}\nmodel m deterministic { inputs [health.hours_7d] }\n",
         "Reported by `mlc check` (the Feast backend's validation, for every env). Feast applies a view "
         "whose entity or table is missing with at most a warning, and fails at materialisation or "
         "retrieval; the compiler says it at the `.flow` source (docs/targets/feast.md).", checked=False),
    Rule("E1102", "feast-join-keys-mismatch",
         "Join keys that do not match: a request-time group reading a group whose entity keys its own "
         "rows do not carry, or an entity key that is not a column (or not of the key's type) in the "
         "table Feast reads.",
         "entity card { key card_id: string }\nentity merchant { key merchant_id: string }\n"
         "features ctx on merchant {\n  request { amount: int }\n  share: float = amount / card_velocity.amount_sum_1h\n}\n",
         "features ctx on card {\n  request { amount: int }\n  share: float = amount / card_velocity.amount_sum_1h\n}\n",
         "Reported by `mlc check` (the Feast backend's validation, for every env). Feast joins an "
         "on-demand view's inputs by the join keys of the entity rows; a key they lack gives missing "
         "values at request time, not an error.", checked=False),
    Rule("E1103", "feast-type-mismatch",
         "A type Feast cannot hold (a date or duration feature, a map as a join key), a feature declared "
         "with another type than the column of the table Feast reads, or a request-time feature declared "
         "with another type than its expression's.",
         "features ctx on card {\n  request { channel: string }\n  online_txn: int = channel == \"online\"\n}\n",
         "features ctx on card {\n  request { channel: string }\n  online_txn: bool = channel == \"online\"\n}\n",
         "Reported by `mlc check` (the Feast backend's validation, for every env). Feast registers the "
         "declared type and converts values when it serves them: a mismatch is found at request time, "
         "or not at all.", checked=False),
    Rule("E1104", "feast-feature-not-in-table",
         "A feature the feature store cannot read: not a column of the table of its group, or a group the "
         "SQL targets cannot compute (E1011).",
         "", "",
         "Reported by `mlc check` (the Feast backend's validation, for every env).", checked=False, lang="text"),
    Rule("E1105", "feast-offline-unsupported",
         "An offline table Feast's file offline store cannot read in this env: a binding other than files "
         "or s3, or a format other than Parquet.",
         "", "",
         "Reported by `mlc check` (the Feast backend's validation, for every env).", checked=False, lang="text"),
    Rule("E1106", "feast-expression-unsupported",
         "A request-time feature whose expression an on-demand view cannot compute: an unknown function, "
         "`in` without a list, a literal of a kind a value cannot have.",
         "", "",
         "Reported by `mlc check` (the Feast backend's validation, for every env). The pandas code of an "
         "on-demand view has the meaning of the SQL the Spark and Flink jobs run (docs/targets/feast.md).",
         checked=False, lang="text"),
    # ------------------------------------------------------------ the BentoML target (compile --target bentoml)
    Rule("E1201", "bentoml-fallback-condition",
         "A served model's fallback condition that its service cannot evaluate: only `confidence` compared "
         "with numbers, `unavailable`, `and`, `or` and `not`.",
         "model scorer nondeterministic {\n  inputs [activity.*]\n  confidence in 0.0..1.0\n"
         "  fallback rules when confidence * 2 < 1.2\n  serve { timeout 50ms }\n}\n",
         "model scorer nondeterministic {\n  inputs [activity.*]\n  confidence in 0.0..1.0\n"
         "  fallback rules when confidence < 0.6 or unavailable\n  serve { timeout 50ms }\n}\n",
         "Reported by `mlc check` (the BentoML backend's validation, for every env). The service decides "
         "on every request whether the fallback answers, from the model's confidence and whether it "
         "could answer at all (docs/targets/bentoml.md).", checked=False),
    Rule("E1202", "bentoml-fallback-not-deterministic",
         "The fallback of a served model is itself nondeterministic: a service evaluates its fallback "
         "in the same process, and only a deterministic model is sure to answer.",
         "model rules nondeterministic { inputs [activity.views_1h] }\n"
         "model scorer nondeterministic {\n  inputs [activity.*]\n  fallback rules\n  serve { timeout 50ms }\n}\n",
         "model rules deterministic { inputs [activity.views_1h] }\n"
         "model scorer nondeterministic {\n  inputs [activity.*]\n  fallback rules\n  serve { timeout 50ms }\n}\n",
         "Reported by `mlc check` (the BentoML backend's validation, for every env).", checked=False),
    Rule("E1203", "bentoml-request-field-type",
         "An entity key or request field of a served model whose type a JSON request cannot carry "
         "(only string, int, float, bool and enum).",
         "entity day { key d: date }\n",
         "entity day { key d: string }\n",
         "Reported by `mlc check` (the BentoML backend's validation, for every env): the service checks "
         "each field of a request against its type and refuses a bad one with HTTP 400.", checked=False),
    Rule("E1204", "bentoml-input-not-online",
         "A served model (or its fallback) reads a stored feature group that is not `online`: its service "
         "would find no value and always fall back.",
         "features daily on user {\n  from events\n  views_1d = count(kind == view) over 1d every 1h\n"
         "  checkpoint every 1m\n}\n"
         "model ranker deterministic {\n  inputs [daily.views_1d]\n  output score: float\n"
         "  serve { timeout 50ms }\n}\n",
         "features daily on user {\n  from events\n  views_1d = count(kind == view) over 1d every 1h\n"
         "  checkpoint every 1m\n  online ttl 2d\n}\n"
         "model ranker deterministic {\n  inputs [daily.views_1d]\n  output score: float\n"
         "  serve { timeout 50ms }\n}\n",
         "Reported by `mlc check` (the BentoML backend's validation, for every env). A served model reads "
         "its features from the online store; a group reaches it with `online ttl ...`."),
    # ------------------------------------------------------------ the monitoring target (compile --target prometheus)
    Rule("W1301", "objective-not-monitored",
         "An objective that nothing exports the series of, so no alert can watch it at run time: the "
         "freshness of a source or of a group no job computes, the availability of a model that is not "
         "served, a quality metric that no evaluation step gates on.",
         "slo events_fresh { freshness(events) <= 1m }\n",
         "slo activity_fresh { freshness(activity) <= 10m }\n",
         "Reported by `mlc check` (the Prometheus backend's validation, for every env). The compiler may "
         "still prove the objective; at run time only what the generated services, jobs and flows export "
         "is watched (docs/targets/prometheus.md lists the series)."),
    Rule("E1302", "objective-without-error-budget",
         "An availability or latency objective of 100%: it leaves no error budget, so its burn-rate "
         "alerts cannot be computed (any one failure is an infinite burn).",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 40ms }\n}\nslo always { availability(ranker) >= 100% }\n",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 40ms }\n}\nslo always { availability(ranker) >= 99.95% }\n",
         "Reported by `mlc check` (the Prometheus backend's validation, for every env). An objective says "
         "how many requests may fail; the alerts page when they fail too fast for that budget."),
    Rule("E1303", "bad-model-watch-limit",
         "A `fallback_rate` or `drift` objective its model cannot carry: a fallback rate that is not a "
         "percentage between 0% and 100% (or over less than a minute), a drift of something other than "
         "`confidence` or outside 0..1, a drift of a deterministic model (it reports no confidence), or a "
         "limit written with anything but `<=`.",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 40ms }\n}\nslo steady { drift(ranker) confidence <= 0.05 }\n",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 40ms }\n}\nmodel judge nondeterministic {\n  framework sklearn\n  inputs [activity.*]\n"
         "  output score: float\n  confidence in 0.0..1.0\n  fallback ranker when confidence < 0.6 or unavailable\n"
         "  serve { timeout 30ms }\n}\nslo steady { drift(judge) confidence <= 0.05, "
         "fallback_rate(judge) <= 2% over 1h }\n",
         "Reported by `mlc check` (the Prometheus backend's validation, for every env). Without such an "
         "objective a served model's fallbacks alert over 5% of its predictions (over 5m) and its "
         "confidence drift over 0.1 (docs/targets/prometheus.md)."),
    Rule("E1304", "bad-objective-period",
         "The `over` of an availability or latency objective that is not a period of 12 hours or more: the "
         "error budget is counted over it, and the burn-rate alerts' windows are shares of it (the fast "
         "burn's long window is 1/720 of the period, and no window is under a minute).",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 40ms }\n}\nslo quick { latency(ranker) p99 <= 50ms over 10m }\n",
         "model ranker deterministic {\n  framework rule\n  inputs [activity.views_1h]\n  output score: float\n"
         "  serve { timeout 40ms }\n}\nslo quick { latency(ranker) p99 <= 50ms over 7d }\n",
         "Reported by `mlc check` (the Prometheus backend's validation, for every env). Without `over` the "
         "period is 30 days, the SRE workbook's (docs/targets/prometheus.md)."),
    # ------------------------------------------------------------ run policy, step returns, subflows, runtimes, alerts
    Rule("E1401", "unknown-run-policy",
         "A run policy, failure policy or alert event the language does not have: `runs` takes "
         "`sequential`, `last_only`, `first_only` or `parallel N`; `on_failure` takes `fail` or `continue`; "
         "`alert` takes `failure` and `late`.",
         'flow nightly {\n  runs latest_only\n  step fit bash("make fit")\n}\n',
         'flow nightly {\n  runs last_only\n  step fit bash("make fit")\n}\n',
         "`runs` says what happens when runs of one flow overlap (docs/language.md, Run policy); "
         "the message suggests the nearest word."),
    Rule("E1402", "returns-read-before-the-step",
         "An expression reads `step.field` of a step that does not run before it: the value does not "
         "exist yet when the reader starts.",
         'flow nightly {\n  step fit python("jobs.fit:main") { returns { auc: float } }\n'
         '  step publish bash("make publish") { when fit.auc >= 0.8 }\n}\n',
         'flow nightly {\n  step fit python("jobs.fit:main") { returns { auc: float } }\n'
         '  step publish bash("make publish") { when fit.auc >= 0.8 }\n  fit >> publish\n}\n',
         "A step reads the values of the steps upstream of it (through `>>` edges); a step's own "
         "values only in its `gate` and `emits`, which are evaluated after it ran."),
    Rule("E1403", "returns-on-a-step-that-cannot",
         "`returns` on a step that cannot return values: only python steps (their function returns "
         "a dict) and subflows (what their flow's steps return) do.",
         'flow nightly {\n  step fit bash("make fit") { returns { auc: float } }\n}\n',
         'flow nightly {\n  step fit python("jobs.fit:main") { returns { auc: float } }\n}\n',
         "A bash, Spark or Flink step has no channel for typed values: write them to an artifact, "
         "or compute them in a python step."),
    Rule("E1404", "subflow-cycle",
         "Subflows that run each other in a cycle: a run would wait for itself forever.",
         'flow a {\n  step b_runs subflow(b)\n}\nflow b {\n  step a_runs subflow(a)\n}\n',
         'flow a {\n  step b_runs subflow(b)\n}\nflow b {\n  step work bash("make work")\n}\n',
         "The message names the cycle flow by flow, with the subflow step of each hop."),
    Rule("E1405", "subflow-argument",
         "A subflow argument that its flow has no parameter for, or a parameter without a default "
         "that the subflow does not pass.",
         'flow one {\n  param region: string = "us"\n  step fit bash("make fit")\n}\n'
         'flow all {\n  step each subflow(one, regoin = "eu")\n}\n',
         'flow one {\n  param region: string = "us"\n  step fit bash("make fit")\n}\n'
         'flow all {\n  step each subflow(one, region = "eu")\n}\n',
         "A subflow passes its named arguments as the parameters of the child flow's run."),
    Rule("E1406", "subflow-returns",
         "A subflow's `returns` field that no step of its flow returns, or returns with another type, "
         "or that several steps return.",
         'flow one {\n  step fit python("jobs.fit:main") { returns { auc: float } }\n}\n'
         'flow all {\n  step each subflow(one) { returns { loss: float } }\n}\n',
         'flow one {\n  step fit python("jobs.fit:main") { returns { auc: float } }\n}\n'
         'flow all {\n  step each subflow(one) { returns { auc: float } }\n}\n',
         "A subflow returns, for each run of its flow, the value of the one step of that flow that "
         "returns a field of that name and type."),
    Rule("E1407", "parallel-without-foreach",
         "`parallel N` on a step without `foreach`: there is nothing to run side by side.",
         'flow nightly {\n  step fit bash("make fit") { parallel 4 }\n}\n',
         'flow nightly {\n  param regions: [string] = ["us", "eu"]\n'
         '  step fit bash("make fit") { foreach r in regions, parallel 4 }\n}\n',
         "`parallel N` bounds a fan-out: at most N instances of the step run at once."),
    Rule("E1408", "runtime-on-an-engine-step",
         "`runtime` on a step that runs in its engine's environment (spark, flink, materialize, deploy).",
         'runtime trainer { image "registry/trainer:1.4", python "3.11" }\n'
         'flow nightly {\n  step fit spark("jobs/fit.py") { runtime trainer }\n}\n',
         'runtime trainer { image "registry/trainer:1.4", python "3.11" }\n'
         'flow nightly {\n  step fit python("jobs.fit:main") { runtime trainer }\n}\n',
         "A runtime is where a python or bash step's own code runs: an image in a cluster, a "
         "virtualenv locally."),
    Rule("E1409", "alert-destination-not-bound",
         "An alert destination that an env does not bind, or binds to a connector that is not an "
         "alert destination.",
         'flow nightly {\n  alert { failure oncall }\n  step fit bash("make fit")\n}\n',
         'flow nightly {\n  alert { failure pager }\n  step fit bash("make fit")\n}\n',
         "Each env binds the name to `pagerduty(key = secret(...))`, `slack(channel = ..., webhook = "
         "secret(...))` or `log()`, so that tests and laptops do not page anyone."),
    Rule("W1410", "late-alert-without-deadline",
         "`alert { late X }` on a flow without a `completion` objective: no run is ever late.",
         'flow nightly {\n  schedule daily\n  alert { late pager }\n  step fit bash("make fit") { timeout 1h }\n}\n',
         'flow nightly {\n  schedule daily\n  alert { late pager }\n  step fit bash("make fit") { timeout 1h }\n}\n'
         'slo on_time { completion(nightly) by "06:00" }\n',
         "A run is late when it misses the time of day of a `completion` objective of its flow."),
    Rule("E1411", "retries-by-class-outside-python",
         "`retries { error N, platform N, timeout N }` on a step that is not a python step.",
         'flow nightly {\n  step fit bash("make fit") { retries { error 1, platform 5 } }\n}\n',
         'flow nightly {\n  step fit python("jobs.fit:main") { retries { error 1, platform 5 } }\n}\n',
         "The class of a failure is decided where it is raised, in the python runtime of a step; "
         "Airflow retries every failure alike, so on other steps write one count."),
    Rule("E1412", "subflow-step-clause",
         "`gate`, `emits` or `env` on a subflow step: it runs another flow and waits for it, so these "
         "belong to a step of that flow or to a step after the subflow.",
         'flow one {\n  step fit python("jobs.fit:main") { returns { auc: float } }\n}\n'
         'flow all {\n  step each subflow(one) { returns { auc: float }, gate auc >= 0.8 }\n}\n',
         'flow one {\n  step fit python("jobs.fit:main") { returns { auc: float }, gate auc >= 0.8 }\n}\n'
         'flow all {\n  step each subflow(one) { returns { auc: float } }\n}\n',
         "A subflow step's parameters are its named arguments and its values its `returns`; the "
         "child flow's steps gate, emit and take environments."),
]

REGISTRY: dict[str, Rule] = {r.code: r for r in RULES}
if len(REGISTRY) != len(RULES):  # pragma: no cover - a programming error caught at import
    raise RuntimeError("a code is registered twice")


def get(code: str) -> Rule | None:
    return REGISTRY.get(code)


def section_of(code: str) -> str | None:
    for title, digits in SECTIONS:
        if code[1:3] in digits:
            return title
    return None


# ---------------------------------------------------------------- docs
def render_page(rule: Rule) -> str:
    """The docs page of one code (also what `mlc rule CODE` prints)."""
    sev = rule.severity.value
    out = [f"# {rule.code}: {rule.name}", "",
           f"**Severity:** {sev}{' (cannot be ignored or suppressed)' if sev == 'error' else ''}  ",
           f"**Section:** {section_of(rule.code) or 'other'}", "",
           rule.summary, ""]
    if rule.details:
        out += [rule.details, ""]
    how = "in a `.flow.yaml` file beside" if rule.lang == "yaml" else "appended to"
    checked = (f" ({how} the [examples' preamble](../lint.md#the-examples-preamble), "
               "checked by the test suite)" if rule.checked else "")
    out += [f"## Example{checked}", "", f"```{rule.lang}", rule.example.rstrip("\n"), "```", ""]
    out += ["## Fix", ""]
    if rule.fix.strip():
        out += [f"```{rule.lang}", rule.fix.rstrip("\n"), "```", ""]
    else:
        out += ["Remove the declaration.", ""]
    if rule.severity is Severity.WARNING:
        inline = (f"`# mlc: ignore[{rule.code}]` on the line (or on the first line of the declaration), "
                  if rule.inline else "")
        out += ["## Silencing it", "",
                f"In `mlc lint`: {inline}`ignore = [\"{rule.code}\"]` in `[lint]` of `mlc.toml`, or a "
                "baseline. See [lint.md](../lint.md).", ""]
    return "\n".join(out)


_INDEX_HEAD = """\
# Diagnostic codes

Every diagnostic `mlc` reports has a stable code. `E` codes are errors (the
program is rejected: `mlc check` and `mlc compile` exit 1), `W` codes are
warnings (`mlc check` exits 1, `mlc compile` still writes its output).
Codes never change meaning; a retired code is not reused.

Each code has a page with an example that triggers it and its fix (`mlc rule
CODE` prints the same page). `mlc lint` ([lint.md](lint.md)) can select,
ignore, suppress or re-grade warnings; errors are always reported.

<!-- Generated from mlc/lint/registry.py by `python -m mlc.lint.registry --write-docs`; edit the registry, not this file. -->
"""


def render_index() -> str:
    out = [_INDEX_HEAD]
    for title, digits in SECTIONS:
        rules = [r for r in RULES if r.code[1:3] in digits]
        if not rules:
            continue
        out += [f"## {title}", "", "| code | name | meaning |", "|---|---|---|"]
        out += [f"| [{r.code}](rules/{r.code}.md) | {r.name} | {r.summary} |" for r in rules]
        out.append("")
    return "\n".join(out)


def expected_docs(docs_dir: Path = DOCS_DIR) -> dict[Path, str]:
    files = {docs_dir / "rules.md": render_index()}
    for r in RULES:
        files[docs_dir / "rules" / f"{r.code}.md"] = render_page(r)
    return files


def stale_docs(docs_dir: Path = DOCS_DIR) -> list[Path]:
    """Pages that are missing or differ from the registry, and pages of codes it does not have."""
    want = expected_docs(docs_dir)
    stale = [p for p, text in want.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    extra = [p for p in sorted((docs_dir / "rules").glob("*.md")) if p not in want]
    return stale + extra


def write_docs(docs_dir: Path = DOCS_DIR) -> list[Path]:
    want = expected_docs(docs_dir)
    (docs_dir / "rules").mkdir(parents=True, exist_ok=True)
    written = []
    for p, text in want.items():
        if not p.is_file() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
            written.append(p)
    for p in sorted((docs_dir / "rules").glob("*.md")):
        if p not in want:
            p.unlink()
            written.append(p)
    return written


def main(argv: list[str]) -> int:
    if argv == ["--write-docs"]:
        for p in write_docs():
            print(f"wrote {p}")
        return 0
    if argv == ["--check-docs"]:
        stale = stale_docs()
        for p in stale:
            print(f"stale: {p}")
        if stale:
            print("run `python -m mlc.lint.registry --write-docs`")
        return 1 if stale else 0
    print("usage: python -m mlc.lint.registry --write-docs | --check-docs", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
