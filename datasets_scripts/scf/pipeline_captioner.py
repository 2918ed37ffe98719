"""General captioning with any Hugging Face image-text-to-text model, with spoof-aware prompts.

The model is loaded by name or local path through `transformers.pipeline("image-text-to-text", ...,
trust_remote_code=True)` and run in batches with greedy decoding, so the same rows always get the same captions.

Prompt modes (`PROMPT_MODES`):
- `attack_aware` (default): the prompt states the row's label and attack medium ("This face image is a presentation
  attack: a face replayed on a screen ...") and asks for the visual cues that reveal it. The label is known for
  every training image, and telling the captioner what to look for is what makes it name the real attack cue
  (the SCF goal); the keyword filter still rejects captions that ignore or contradict the prompt.
- `spoof_aware`: the prompt lists the cues of every attack family and of live faces but does not state the row's
  label; closer to a blind C_G, with lower kept ratios for small captioners.
- `generic`: "Describe this face image", the generic captions T_F of the paper's ablation.

Example:
    >>> build_prompt("print", "printed_photo", "attack_aware").startswith("This face image is a presentation attack")
    True
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from datasets_scripts.scf.keywords import FAMILIES, family_of
from image_io_ifas import load_image

logger = logging.getLogger(__name__)

PROMPT_MODES = ("attack_aware", "spoof_aware", "generic")
DEFAULT_PROMPT_MODE = "attack_aware"

CUE_HINTS = {
    "print": "paper edges, halftone dots, creases, flat shading",
    "replay": "moiré patterns, screen glare, the device bezel, a pixel grid",
    "paper_mask": "cut-out eye holes, paper edges, flat printed skin",
    "3d_mask": "unnatural skin texture, a waxy or plastic surface, mask seams, lifeless eyes",
    "makeup": "heavy foundation, painted contours, sharp colour boundaries",
    "partial": "the covered region, its edges, a texture that does not match the skin",
    "other": "surfaces, edges and textures that do not belong to a live face",
    "live": "natural skin texture, 3D shading, specular highlights on the skin",
}
ANSWER_RULES = "Answer in one or two sentences and do not start with yes or no."
LEADING_JUDGMENT = re.compile(r"^\s*(?:yes|no)\b[\s,.:;!-]*", re.IGNORECASE)


def build_prompt(attack_type: str, attack_detail: str = "", mode: str = DEFAULT_PROMPT_MODE) -> str:
    """The captioning instruction for one row in `mode` (one of `PROMPT_MODES`)."""
    if mode not in PROMPT_MODES:
        raise ValueError(f"prompt mode {mode!r} is not one of {PROMPT_MODES}")
    if mode == "generic":
        return f"Describe this face image. {ANSWER_RULES}"
    if mode == "spoof_aware":
        attacks = "; ".join(
            f"{FAMILIES[f].description} ({CUE_HINTS[f]})" for f in FAMILIES if f not in ("live", "other")
        )
        return (
            "Look closely at this face image. If it is a presentation attack, name the medium and the visual cues "
            f"that reveal it; the attacks are: {attacks}. If it is a live face, name its cues ({CUE_HINTS['live']}). "
            + ANSWER_RULES
        )
    family = family_of(attack_type, attack_detail)
    if family == "live":
        return (
            f"This face image shows {FAMILIES['live'].description}. Describe the visual cues that show it is live, "
            f"such as {CUE_HINTS['live']}. {ANSWER_RULES}"
        )
    return (
        f"This face image is a presentation attack: {FAMILIES[family].description}. Describe the visual cues that "
        f"reveal it and name the attack medium, for example {CUE_HINTS[family]}. {ANSWER_RULES}"
    )


def clean_caption(text: str) -> str:
    """Collapse whitespace and drop a leading "Yes"/"No" (training prepends the judgment itself)."""
    text = " ".join((text or "").split())
    text = LEADING_JUDGMENT.sub("", text)
    return text[:1].upper() + text[1:]


class PipelineCaptioner:
    """Caption images with a transformers image-text-to-text pipeline; `source` names it in `caption_source`.

    Example:
        >>> captioner = PipelineCaptioner("path/or/hub-name", batch_size=8)  # doctest: +SKIP
        >>> captioner.caption([{"image": img, "attack_type": "print", "attack_detail": ""}])  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str,
        *,
        source: str | None = None,
        prompt_mode: str = DEFAULT_PROMPT_MODE,
        batch_size: int = 8,
        max_new_tokens: int = 64,
        device=None,
        dtype: str = "auto",
    ):
        if prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt mode {prompt_mode!r} is not one of {PROMPT_MODES}")
        self.model = str(model)
        self.source = source or f"general:{self.model}"
        self.prompt_mode = prompt_mode
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.dtype = dtype
        self._pipe = None

    @property
    def settings(self) -> dict:
        """What determines the captions; stored beside resumable shards so a changed setting is noticed."""
        return {"source": self.source, "prompt_mode": self.prompt_mode, "max_new_tokens": self.max_new_tokens}

    @property
    def pipe(self):
        """The pipeline, loaded on first use (left padding for batched generation)."""
        if self._pipe is None:
            from transformers import pipeline

            logger.info("loading captioner %s", self.model)
            self._pipe = pipeline(
                "image-text-to-text", model=self.model, trust_remote_code=True, device=self.device, dtype=self.dtype
            )
            self._pipe.tokenizer.padding_side = "left"
        return self._pipe

    def caption(self, rows: Sequence[dict]) -> list[str]:
        """Captions (explanations only) for rows with `image`, `attack_type` and `attack_detail`."""
        chats = [
            [{
                "role": "user",
                "content": [
                    {"type": "image", "image": load_image(row["image"])},
                    {"type": "text", "text": build_prompt(row["attack_type"], row.get("attack_detail") or "",
                                                          self.prompt_mode)},
                ],
            }]
            for row in rows
        ]
        outputs = self.pipe(
            text=chats,
            batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens,
            return_full_text=False,
            generate_kwargs={"do_sample": False},
        )
        return [clean_caption((out[0] if isinstance(out, list) else out)["generated_text"]) for out in outputs]
