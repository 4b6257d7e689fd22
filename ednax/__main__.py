from ednax.cli import entry

entry()
