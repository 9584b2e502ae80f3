"""ms-swift's ``--external_plugins`` file: VAU-R1's rewards (`vau_plugin.rewards`) as ms-swift ORMs.

Use: ``swift rlhf --rlhf_type grpo --external_plugins <path of this file> --reward_funcs vau_format vau_accuracy
vau_iou ...`` (the path: ``python -c "import vau_plugin.frameworks.swift_reward as m; print(m.__file__)"``), on a
dataset written by ``vau-plugin prepare --format swift``.

The contract (modelscope/ms-swift v4.5.2, ff51287, and main 3602360 (4.6.0.dev0); v3.12.6, 8773ecd, where noted):

- ``swift/utils/utils.py`` ``import_external_file``: puts the file's folder first on ``sys.path`` and imports the
  file by its stem (so it is imported as ``swift_reward``, beside, not as, ``vau_plugin.frameworks.swift_reward``).
- ``swift/rewards/orm.py`` (v3: ``swift/plugin/orm.py``): the registry ``orms`` (name -> class) and the ``ORM`` base;
  a plugin adds ``orms['name'] = Class`` (``examples/train/grpo/plugin/plugin.py``).
- ``swift/rlhf_trainers/grpo_trainer.py`` ``_prepare_rewards``: ``orms[name](args=args)`` (v3: the class with the
  keyword arguments its ``__init__`` names besides self/args/kwargs, here none); the class name is the logged name.
- ``swift/rl_core/grpo_algorithm.py`` ``compute_rewards_per_func``: ``reward_func(completions, **reward_kwargs)``
  with ``completions = [sample.messages[-1]['content'] ...]`` (strings) and ``reward_kwargs`` =
  ``{'trainer_state': ...}`` plus every dataset column as a list (``RowPreprocessor.rows_to_batched``, None where a
  row lacks a key); the output is a list of floats (None -> NaN).
- GRPO keeps the extra dataset columns (``rlhf_args.py``: ``remove_unused_columns = False``); with a ``messages``
  column ms-swift's ``MessagesPreprocessor`` renames only messages/system/images/videos columns, so ``task``,
  ``answer`` and ``span`` arrive as they are written.

Each ORM returns exactly what its `vau_plugin.rewards` function returns for the same completions and columns;
``--reward_weights`` (default 1 each) sums them as VAU-R1 does. Registration happens on import when ms-swift is
importable (``swift.rewards``, else v3's ``swift.plugin``); without ms-swift the import registers nothing.
"""

from __future__ import annotations

from typing import Any, Optional

from vau_plugin.rewards import REWARD_FUNCS

__all__ = ["COLUMNS", "SWIFT_ORMS", "VAUAccuracy", "VAUFormat", "VAUIoU", "register", "swift_orms"]

COLUMNS: tuple[str, ...] = ("task", "answer", "span")  # the dataset columns `prepare --format swift` writes


class _VAUReward:
    """An ms-swift ORM over one reward of `vau_plugin.rewards.REWARD_FUNCS` (``reward`` names it)."""

    reward = ""

    def __init__(self, args: Optional[Any] = None, **kwargs: Any) -> None:
        self.args = args  # ms-swift's GRPOConfig; unused

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        """__call__(completions, **kwargs) -> list[float], one reward in [0, 1] per completion.

        Args:
            completions: the generated texts (ms-swift passes the last message's content).
            **kwargs: the dataset columns as lists, one value per completion (``task``, ``answer``, ``span``
                are read), and ms-swift's own (``trainer_state``, ``messages``, ...), unused.

        Raises:
            ValueError: when a whole column is absent (a dataset not written by ``prepare --format swift``):
                scoring 0 everywhere would train on nothing.
        """
        missing = [column for column in COLUMNS if column not in kwargs]
        if missing:
            raise ValueError(
                f"{type(self).__name__}: the dataset has no column(s) {', '.join(missing)}; the vau_* rewards read "
                f"{', '.join(COLUMNS)}, as `vau-plugin prepare --format swift` writes them"
            )
        return REWARD_FUNCS[self.reward](completions, **kwargs)


class VAUFormat(_VAUReward):
    """``vau_format``: `vau_plugin.rewards.format_reward` (VAU-R1's answer layout; ``<glue>`` span for tag)."""

    reward = "format"


class VAUAccuracy(_VAUReward):
    """``vau_accuracy``: `vau_plugin.rewards.accuracy_reward` (letter / verdict / class against ``answer``)."""

    reward = "accuracy"


class VAUIoU(_VAUReward):
    """``vau_iou``: `vau_plugin.rewards.tiou_reward` (temporal IoU with ``span``, tag samples)."""

    reward = "iou"


# The names `--reward_funcs` takes: vau_ + the REWARD_FUNCS name.
SWIFT_ORMS: dict[str, type] = {f"vau_{cls.reward}": cls for cls in (VAUFormat, VAUAccuracy, VAUIoU)}


def swift_orms() -> Optional[dict]:
    """swift_orms() -> ms-swift's ``orms`` registry (``swift.rewards``, v4; ``swift.plugin``, v3), or None when
    ms-swift cannot be imported."""
    for module in ("swift.rewards", "swift.plugin"):
        try:
            registry = getattr(__import__(module, fromlist=["orms"]), "orms", None)
        except ImportError:
            continue
        if isinstance(registry, dict):
            return registry
    return None


def register(orms: Optional[dict] = None) -> dict:
    """register(orms=None) -> the registry, with `SWIFT_ORMS` added (vau_format, vau_accuracy, vau_iou).

    Args:
        orms: the registry to fill; None → ms-swift's (`swift_orms`); nothing is done when there is none.
    """
    registry = swift_orms() if orms is None else orms
    if registry is not None:
        registry.update(SWIFT_ORMS)
    return registry if registry is not None else {}


register()  # what --external_plugins imports this file for
