"""The `vau-plugin` sub-commands, one module each (`vau_plugin.cli.COMMANDS` names them).

A command module defines `add_arguments(parser)` (its arguments, on the sub-parser `vau_plugin.cli` made for it)
and `run(args) -> int` (its exit status). `vau_plugin.cli` imports a command's module only when that command is
run, so `vau-plugin --help` imports none and no command pays for another's imports; a module imports what its
work needs inside `run`, so that `vau-plugin CMD --help` stays quick too. Modules whose names start with `_` hold
what several commands share.
"""
