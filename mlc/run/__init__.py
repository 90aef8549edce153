"""Running the deployed local release on the embedded engines (docs/run.md): `mlc run` of a
flow's DAG (`flow.py`), `mlc serve` / `mlc predict` of a model's BentoML service (`serve.py`).
Everything is found through the deploy folder (`deployed.py`): its `current` release, its
`deploy.env` — never through a path written into a compiled file."""
