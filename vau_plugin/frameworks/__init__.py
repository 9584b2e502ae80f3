"""Entry points for RL frameworks other than LLaMA-Factory, over the same rewards (`vau_plugin.rewards`).

- `easyr1_reward`: EasyR1's reward function file (``worker.reward.reward_function=<its path>:compute_score``).
- `swift_reward`: ms-swift's ``--external_plugins`` file (``--reward_funcs vau_format vau_accuracy vau_iou``).

Both are loaded by their frameworks from a file path, not as ``vau_plugin.frameworks.*``, so they use absolute
imports only. ms-swift puts the file's folder at the front of ``sys.path``: no file here may be named like a
top-level package (``swift``, ``verl``, ...). `vau-plugin prepare --format easyr1|swift` writes their datasets.
"""
