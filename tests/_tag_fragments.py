"""The answer-layout tags, in the spelling of the prompts and in other cases, for hypothesis texts built from
fragments (parsing and reward property tests)."""

TAG_FRAGMENTS = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<glue>",
    "</glue>",
    "<THINK>",
    "</Think>",
    "<ANSWER>",
    "</Answer>",
    "<GLUE>",
    "</gLue>",
]
