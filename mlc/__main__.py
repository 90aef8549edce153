from mlc.cli import entry

entry()
