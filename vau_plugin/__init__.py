"""vau-plugin: video anomaly understanding (VAU-R1, VAU-Bench) and video motion prompts for
lmms-eval and LLaMA-Factory."""

__version__ = "0.1.0"
