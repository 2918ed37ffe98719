"""Up-front checks of the arguments of `score`/`judge`, of chat messages and of a model-processor pair; each error
names the argument.

Shipped with the model as remote code (a relative import of `modeling_ifas.py` and `processing_ifas.py`).

Example:
    >>> check_batch_size(4)
    4
    >>> as_image_list("face.jpg")
    ['face.jpg']
"""

import math
import os

CHAT_MARKERS = ("<|im_start|>", "<|im_end|>")  # the turn delimiters of the ChatML template
CHAT_ROLES = ("system", "user", "assistant")


def check_batch_size(batch_size) -> int:
    """`batch_size` as a positive int, or `ValueError`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def as_image_list(images) -> list:
    """`images` as a list: one image (path, bytes, dict or PIL image) becomes a one-item list; a sequence (list,
    tuple, `datasets` column) is copied; anything else (an array, a generator) is a `ValueError`. A bare string is
    one path, never a sequence of characters."""
    if isinstance(images, (str, os.PathLike, bytes, bytearray, dict)) or hasattr(images, "getpixel"):
        return [images]
    if hasattr(images, "shape") or not (hasattr(images, "__len__") and hasattr(images, "__getitem__")):
        raise ValueError(
            f"images must be a list of images or one image (path, bytes or PIL image), got {type(images).__name__}"
        )
    images = list(images)
    for index, image in enumerate(images):
        if image is None or hasattr(image, "shape"):
            raise ValueError(f"images[{index}] is {'None' if image is None else type(image).__name__ + ' (an array)'}"
                             f": give a path, bytes or a PIL image")
    return images


def check_threshold(threshold):
    """`threshold` (config.threshold) as a float strictly between 0 and 1, or None (uncalibrated).

    >>> check_threshold(-0.2)
    Traceback (most recent call last):
    ...
    ValueError: threshold must be None (uncalibrated) or a probability strictly between 0 and 1, got -0.2
    """
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or \
            not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be None (uncalibrated) or a probability strictly between 0 and 1, got "
                         f"{threshold!r}")
    return float(threshold)


def check_checkpoint(model, processor) -> None:
    """Refuse a model and processor that disagree on the judgment words, or a `config.judgment_token_ids` that are
    not the tokenizer's ids of `config.judgment_words` (P(live) would be read from the wrong logits)."""
    config = model.config
    words, ids = list(config.judgment_words), config.judgment_token_ids
    if words != list(processor.judgment_words):
        raise ValueError(f"the model's judgment_words {words} differ from the processor's {processor.judgment_words}")
    expected = processor.judgment_token_ids()
    if ids is None or [int(i) for i in ids] != list(expected):
        pieces = None if ids is None else processor.tokenizer.convert_ids_to_tokens([int(i) for i in ids])
        raise ValueError(f"config.judgment_token_ids {ids} ({pieces}) are not the tokenizer's ids {expected} of "
                         f"judgment_words {words}: P(live) would be read from the wrong logits")


def control_tokens(tokenizer, image_token: str) -> set[str]:
    """Strings a user must not type: the chat markers, the image token and every special token of `tokenizer`."""
    special = {token.content for token in tokenizer.added_tokens_decoder.values() if token.special}
    return (special | set(tokenizer.all_special_tokens) | set(CHAT_MARKERS) | {image_token}) - {""}


def check_user_text(text, tokens: set[str], argument: str = "question") -> None:
    """Refuse a user text that is not a string or that contains a control token (it would open a fake turn)."""
    if not isinstance(text, str):
        raise ValueError(f"{argument} must be a string, got {type(text).__name__}")
    found = sorted(token for token in tokens if token in text)
    if found:
        raise ValueError(f"{argument} contains chat control token(s) {found}; remove them (they would start new turns)")


def check_question(processor, question, limit: int | None, reserved: int = 0) -> None:
    """Refuse a question with control tokens, or whose prompt (plus `reserved` generated tokens) exceeds `limit`."""
    if question is None:
        return
    check_user_text(question, control_tokens(processor.tokenizer, processor.image_token))
    if limit is None:
        return
    prompt_ids = processor.tokenizer(processor.build_prompt(question), add_special_tokens=False)["input_ids"]
    length = len(prompt_ids) - 1 + processor.num_image_tokens + reserved
    check_prompt_length(length, limit, f"the prompt takes {length} tokens (with {processor.num_image_tokens} visual "
                                       f"tokens and {reserved} to generate)", "question")


def check_prompt_length(length: int, limit: int | None, detail: str, what: str = "prompt") -> None:
    """Refuse a prompt of `length` tokens (generated ones included) beyond the language model's context `limit`."""
    if limit is not None and length > limit:
        raise ValueError(f"{what} is too long: {detail} but the language model's context is {limit}")


def check_conversation(conversation, tokens: set[str]) -> None:
    """Refuse a chat (one conversation or a batch) that could fake a turn: a role other than system, user and
    assistant, an assistant message before the last message (a made-up earlier answer), or chat control tokens in
    the text of any message."""
    conversations = conversation if conversation and isinstance(conversation[0], (list, tuple)) else [conversation]
    for chat in conversations:
        for index, message in enumerate(chat):
            if not isinstance(message, dict):
                raise ValueError(f"chat message {index} must be a dict with 'role' and 'content', got "
                                 f"{type(message).__name__}")
            role = message.get("role")
            if role not in CHAT_ROLES:
                raise ValueError(f"chat message {index}: role {role!r} is not one of {list(CHAT_ROLES)}")
            if role == "assistant" and index != len(chat) - 1:
                raise ValueError(f"chat message {index}: an assistant turn before the last message is refused (the "
                                 f"model answers; earlier answers cannot be supplied)")
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            for block in blocks:
                if isinstance(block, dict) and block.get("type") == "text":
                    check_user_text(block.get("text", ""), tokens, argument=f"{role} message text")


__all__ = ["check_batch_size", "as_image_list", "check_threshold", "check_checkpoint", "control_tokens",
           "check_user_text", "check_question", "check_prompt_length", "check_conversation", "CHAT_ROLES"]
