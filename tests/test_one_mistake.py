"""One mistake, one diagnostic, said rightly (issue 12).

Each test writes a small project with one mistake and asserts the exact list of codes
reported, so that no finding that merely follows from another one slips back in.
"""

from __future__ import annotations

from pathlib import Path

from mlc.compiler.driver import check
from mlc.compiler.project import load_project


def run(tmp_path: Path, files: dict[str, str]):
    (tmp_path / "mlc.toml").write_text("")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return check(load_project([str(tmp_path)]), use_cache=False).diagnostics


def codes(diags) -> list[str]:
    return [d.code for d in diags]


# ---------------------------------------------------------------- 1. E0411 only for a dead trigger
SIGNALS = """\
package demo
signal output_1 { v: string }
signal output_2 { v: string }
signal output_3 { v: string }
flow producer {
  schedule daily
  step a bash("echo a") { emits signal output_1(v = "x") }
  step b bash("echo b") { emits signal output_2(v = "x") }
  a >> b
}
flow live {
  trigger signal(output_1) or (signal(output_2) and signal(output_3))
  step run bash("echo run")
}
"""


def test_an_unsent_signal_in_a_live_branch_is_a_warning_naming_the_branch(tmp_path: Path) -> None:
    (d,) = run(tmp_path, {"p.flow": SIGNALS})
    assert d.code == "W0415"
    assert "flow `live`" in d.message and "`output_3`" in d.message
    assert (d.span.line, d.span.col) == (12, 32)  # the branch `signal(output_2) and signal(output_3)`
    assert [lb.message for lb in d.labels] == ["no flow emits `output_3`"]


def test_e0411_names_the_flow_whose_trigger_is_dead(tmp_path: Path) -> None:
    text = SIGNALS + """\
flow dead {
  trigger signal(output_3) and signal(output_1)
  step run bash("echo run")
}
"""
    diags = run(tmp_path, {"p.flow": text})
    assert codes(diags) == ["W0415", "E0411"]
    err = diags[1]
    assert err.message == "flow `dead` can never start: its trigger waits for signal `output_3`, which no flow emits"
    assert (err.span.line, err.span.col) == (16, 11)
    assert [lb.message for lb in err.labels] == ["signal `output_3` declared here"]


# ---------------------------------------------------------------- 2. W0410 counts what it does not list
def test_w0410_says_how_many_emit_sites_it_does_not_list(tmp_path: Path) -> None:
    steps = "\n".join(f'  step s{i} bash("echo {i}") {{ emits signal done(v = "x") }}' for i in range(7))
    text = ("package demo\nsignal done { v: string }\nflow f {\n  schedule daily\n" + steps + "\n  "
            + " >> ".join(f"s{i}" for i in range(7)) + "\n}\n")
    (d,) = run(tmp_path, {"p.flow": text})
    assert d.code == "W0410" and len(d.labels) == 3
    assert d.notes == ("and 4 more emit sites",)
