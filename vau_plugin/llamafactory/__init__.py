"""LLaMA-Factory integration: `stage: grpo` (TRL's GRPOTrainer for video prompts), installed by a start-up hook.
`prepare` (`vau-plugin prepare`) writes VAU-Bench annotations and videos as a LLaMA-Factory dataset directory.

`vau_plugin.pth` (written into the wheel and into editable installs by setup.py) imports `_startup` at every
Python start. That installs a post-import hook and nothing else; `patch`, the one module that changes
LLaMA-Factory, applies the monkeypatches only when LLaMA-Factory's own modules are imported, so Python start-up
stays cheap and other programs are unaffected. The other modules hold what the patches install.

Keep this file free of imports: it runs at interpreter start.
"""
