"""`mlc lint`: the checks of `mlc check`, with CI policy on top.

registry  every code, its severity, summary and docs page
config    `[lint]` in mlc.toml or `[tool.mlc.lint]` in pyproject.toml
suppress  `# mlc: ignore[CODE]` comments, and the unused-suppression rule
baseline  accepted findings, fingerprinted by content rather than line numbers
formats   text, json, sarif, github, junit
engine    puts them together: `lint(result, config, baseline) -> LintReport`
"""
