"""What the tiny-checkpoint tests share (test_tiny_model, test_tiny_qwen3_vl, test_qwen3_vl_training): the offline
hub, a video chat message, an mp4 whose frames differ, and LLaMA-Factory's encoding of one video SFT sample.

conftest.py imports `offline_hub`, so every test module can ask for it by name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

VIDEO_MESSAGE = [
    {
        "role": "user",
        "content": [
            {"type": "video", "video": "clip.mp4"},
            {"type": "text", "text": "Which anomaly class is shown?"},
        ],
    }
]


@pytest.fixture(scope="session")
def offline_hub():
    """Make the Hugging Face hub unreachable by configuration, as on a machine without internet."""
    import huggingface_hub.constants
    import transformers.utils.hub

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        patch.setattr(transformers.utils.hub, "_is_offline_mode", True)
        yield


def bar_sweep_mp4(path: Path, frames: int = 8, fps: int = 4, width: int = 64, height: int = 48) -> Path:
    """Write a small H.264 mp4 whose frames differ from each other (a bar sweeping right)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            frame = np.full((height, width, 3), 40 * index % 256, dtype=np.uint8)
            frame[:, : (index + 1) * width // frames] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def llamafactory_encode(checkpoint: Path, video: str, template_name: str, answer: str) -> dict:
    """One video SFT sample through LLaMA-Factory's own loading and encoding (load_tokenizer, the template's
    mm_plugin, encode_oneturn, load_model), then a forward pass with labels: {"messages", "input_ids",
    "response_ids", "mm_inputs", "tokenizer", "processor", "loss"}."""
    import torch
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, FinetuningArguments, ModelArguments
    from llamafactory.model import load_model, load_tokenizer

    model_args = ModelArguments(model_name_or_path=str(checkpoint))
    modules = load_tokenizer(model_args)
    tokenizer, processor = modules["tokenizer"], modules["processor"]
    assert processor is not None, "LLaMA-Factory found no multimodal processor in the checkpoint"
    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=template_name))
    messages = [{"role": "user", "content": "<video>Which anomaly class is shown?"}, {"role": "assistant", "content": answer}]
    messages = template.mm_plugin.process_messages(messages, [], [video], [], processor)
    prompt_ids, response_ids = template.encode_oneturn(tokenizer, messages)
    input_ids = prompt_ids + response_ids
    mm_inputs = template.mm_plugin.get_mm_inputs([], [video], [], [0], [1], [0], [input_ids], processor)
    model = load_model(tokenizer, model_args, FinetuningArguments(), is_trainable=False)
    ids = torch.tensor([input_ids])
    with torch.no_grad():
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids, **mm_inputs).loss
    return {"messages": messages, "input_ids": input_ids, "response_ids": response_ids, "mm_inputs": mm_inputs,
            "tokenizer": tokenizer, "processor": processor, "loss": loss.item()}  # fmt: skip
