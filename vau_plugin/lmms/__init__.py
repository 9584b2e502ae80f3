"""lmms-eval glue: entry point, model wrapper, judge."""

# The response the plugin's model wrapper gives for a sample whose video cannot be decoded: the sample is kept,
# scored as a wrong answer, and flagged `video_error` in the per-sample log.
VIDEO_ERROR_PREFIX = "[vau-plugin video error]"
