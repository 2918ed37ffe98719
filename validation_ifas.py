"""Up-front checks of the arguments of `score`/`judge` and of user chat text; each error names the argument.

Shipped with the model as remote code (a relative import of `modeling_ifas.py` and `processing_ifas.py`).

Example:
    >>> check_batch_size(4)
    4
    >>> as_image_list("face.jpg")
    ['face.jpg']
"""

import os

CHAT_MARKERS = ("<|im_start|>", "<|im_end|>")  # the turn delimiters of the ChatML template


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
    return list(images)


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
    if length > limit:
        raise ValueError(
            f"question is too long: the prompt takes {length} tokens (with {processor.num_image_tokens} visual tokens"
            f" and {reserved} to generate) but the language model's context is {limit}"
        )


def check_conversation(conversation, tokens: set[str]) -> None:
    """Refuse control tokens in the user text of a chat (one conversation or a batch of them)."""
    conversations = conversation if conversation and isinstance(conversation[0], (list, tuple)) else [conversation]
    for chat in conversations:
        for message in chat:
            if not isinstance(message, dict) or message.get("role") != "user":
                continue
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            for block in blocks:
                if isinstance(block, dict) and block.get("type") == "text":
                    check_user_text(block.get("text", ""), tokens, argument="user message text")


__all__ = ["check_batch_size", "as_image_list", "control_tokens", "check_user_text", "check_question",
           "check_conversation"]
