"""Issue 20: a request-time group (a Feast on-demand view) needs no `on ENTITY`; a stored group
without one is E0217. A derived feature carries a description, as a plain column does. Each
form checks, formats, converts to YAML and back, and lowers."""

from __future__ import annotations

import json
from pathlib import Path

from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.targets.layout import Layout
from tests.test_feature_store_language import BASE, _without_locs, found

NO_ENTITY = BASE + """\
## what the request adds, for any driver and any customer
features boosted {
  request { boost: float }
  rate: float "the conversion rate, boosted" = driver_hourly_stats.conv_rate + boost
}
"""


def _check(folder: Path, name: str, text: str):
    folder.mkdir()
    (folder / "mlc.toml").write_text('[project]\nname = "t"\n')
    (folder / name).write_text(text)
    return check(load_project([str(folder)]), use_cache=False)


def test_a_request_time_group_on_no_entity_checks_and_lowers_to_an_on_demand_view(tmp_path: Path) -> None:
    from mlc.targets.feast.target import lower

    result = _check(tmp_path / "p", "main.flow", NO_ENTITY)
    assert result.diagnostics == []
    group = result.program.feature_groups["demo.boosted"]
    assert group.entity is None and group.mode == "request"
    files = {a.path: a.text for a in lower(result.program, "local", Layout(result.program))}
    text = files[Layout.feast_definitions()]
    assert 'name="boosted"' in text and "driver_hourly_stats__conv_rate" in text
    assert group.features[0].description == "the conversion rate, boosted"
    assert 'Field(name="rate", dtype=Float64, description="the conversion rate, boosted")' in text


def test_a_stored_group_on_no_entity_is_e0217(tmp_path: Path) -> None:
    text = BASE.replace("features driver_hourly_stats on driver {", "features driver_hourly_stats {")
    assert found(tmp_path, text) == [
        ("E0217", 16, 8, "feature group `driver_hourly_stats` reads `stats` but is on no entity")]


def test_a_group_on_no_entity_and_a_described_feature_format_and_convert_to_yaml_and_back(tmp_path: Path) -> None:
    from mlc.dsl.fmt import format_text
    from mlc.dsl.parser import parse_text
    from mlc.dsl.yaml_emit import module_to_yaml

    once, diags = format_text(NO_ENTITY, "x.flow")
    assert diags == [] and "features boosted {" in once and format_text(once, "x.flow")[0] == once
    assert 'rate: float "the conversion rate, boosted" = driver_hourly_stats.conv_rate + boost' in once
    module, _ = parse_text(NO_ENTITY, "x.flow")
    yaml = module_to_yaml(module)
    block = yaml[yaml.index("  boosted:"):]
    assert "on:" not in block[:block.index("features:")]
    assert "description: 'the conversion rate, boosted'" in block
    a = _check(tmp_path / "flow", "main.flow", NO_ENTITY)
    b = _check(tmp_path / "yaml", "main.flow.yaml", yaml)
    assert b.diagnostics == []
    strip = lambda p: json.loads(p.model_dump_json(exclude={"files"}).replace("main.flow.yaml", "main.flow"))  # noqa: E731
    assert _without_locs(strip(a.program)) == _without_locs(strip(b.program))
