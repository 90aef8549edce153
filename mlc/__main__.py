from mlc.cli import run

run()
