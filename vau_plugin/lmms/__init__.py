"""lmms-eval glue: entry point, model wrapper, judge."""

# The response the plugin's model wrapper gives for a sample whose video cannot be decoded; defined in the domain
# (vau_plugin.score reads it too), imported here so that the lmms code and its tasks read it from vau_plugin.lmms.
from vau_plugin.predictions import VIDEO_ERROR_PREFIX as VIDEO_ERROR_PREFIX


class RunStopped(SystemExit):
    """A failure that must end an lmms-eval run with a non-zero status and one message: lmms-eval 0.7.3 catches
    every `Exception` of an evaluation, prints it and exits 0 (unless --verbosity DEBUG), which would let a run
    with no usable result look like a success; a `SystemExit` passes through and exits 1. Raised by the model
    wrappers and the judge, and by `vau_plugin.lmms.entry.guard_exit_status` for any other failure of a run of the
    plugin's tasks or models."""
