"""Sub-commands of the ``emrestore`` command line, one module each.

A module here defines ``add_parser(subparsers) -> argparse.ArgumentParser`` that adds
its sub-parser and sets ``func=run`` with ``set_defaults``; ``run(args) -> int``
returns the exit status. Register the module name in
:data:`emrestore.cli.COMMAND_MODULES`.
"""
