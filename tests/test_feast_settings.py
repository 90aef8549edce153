"""Issue 20: the settings of Feast's `local` template that .flow could not say: the project's
description (the package's doc comment), `validate` (Feast `enable_validation`) and `version`
on a group; each checked, formatted, converted to YAML and back, and lowered."""

from __future__ import annotations

from pathlib import Path

from mlc.targets.feast.target import lower
from mlc.targets.layout import Layout
from tests.test_feature_store_language import BASE, found, run

SETTINGS = "## Driver statistics, hourly\n" + BASE.replace("  online ttl 1d\n", "  online ttl 1d\n  validate\n  version \"latest\"\n", 1)


def test_the_settings_reach_the_feast_definitions(tmp_path: Path) -> None:
    result = run(tmp_path, SETTINGS)
    assert result.diagnostics == []
    p = result.program
    group = p.feature_groups["demo.driver_hourly_stats"]
    assert (group.validation, group.version, p.package_docs) == (True, "latest", {"demo": "Driver statistics, hourly"})
    text = {a.path: a.text for a in lower(p, "local", Layout(p))}[Layout.feast_definitions()]
    assert 'project = Project(name="demo", description="Driver statistics, hourly")' in text
    view = text[text.index('name="driver_hourly_stats"'):]
    assert "enable_validation=True" in view[:view.index(")\n")] and 'version="latest"' in view[:view.index(")\n")]


def test_validate_is_for_stored_groups(tmp_path: Path) -> None:
    text = BASE.replace("  plus = driver_hourly_stats.conv_rate + w\n", "  plus = driver_hourly_stats.conv_rate + w\n  validate\n")
    assert [f[0] for f in found(tmp_path, text)] == ["E0315"]


def test_the_settings_format_and_convert_to_yaml_and_back() -> None:
    from mlc.dsl.fmt import format_text
    from mlc.dsl.parser import parse_text
    from mlc.dsl.yaml_emit import module_to_flow, module_to_yaml
    from mlc.dsl.yaml_front import parse_yaml

    once, diags = format_text(SETTINGS, "x.flow")
    assert diags == [] and "  validate\n" in once and '  version "latest"\n' in once
    module, _ = parse_text(SETTINGS, "x.flow")
    yaml = module_to_yaml(module)
    assert "validate: true" in yaml and "version: latest" in yaml
    back, diags = parse_yaml(yaml, "x.flow.yaml")
    assert diags == [] and '  version "latest"\n' in module_to_flow(back) and "  validate\n" in module_to_flow(back)
