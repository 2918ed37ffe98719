"""Heat maps for I-FAS answers: where in the face crop the evidence for the judgment and for the named cues lies.

Method: gradient x input on the patch features (the vision tower's output at `vision_feature_layer`, which feed
both the projector and the GAC's cross-attention). The frozen tower runs once without gradients; one forward of
the LLM over the prompt, the decided judgment word and the generated explanation, then two backward passes that
stop at the patch features:

* ``heatmap``: from the Yes/No logit margin at the answer position, the quantity that decides the judgment, signed
  towards the answer given (logit(No) - logit(Yes) for a "No");
* ``explanation_heatmap``: from the summed log-probabilities of the explanation tokens that name a cue
  (`CUE_TERMS`; every explanation token when none does).

Per patch, the attribution is sum over channels of gradient x feature; its positive part (evidence for the answer)
is scaled to a maximum of 1 (all zeros when no patch speaks for it). The map is a (rows, cols) grid over the image
the model saw: `crop_box` gives that square in the input's pixels (the face crop around ``face_box``, or the whole
image), `overlay` draws a map over it. The global tokens the GAC reads (CLS per tapped layer) are held fixed: the
map covers what reaches the answer through the patch features.

Shipped with the model as remote code (a relative import of `modeling_ifas.py`).

Example:
    >>> cues_named("Printed photo: a glossy sheen and visible paper edges around the face.")
    ['edges', 'glare']
    >>> crop_box((10.0, 20.0, 30.0, 50.0), {"detector": "mtcnn", "scale": 1.0, "size": 224}, (100, 80))
    [5.0, 20.0, 35.0, 50.0]
"""

import math
import re

import numpy as np
import torch
from PIL import Image

# Words an explanation uses for each SynthFAS cue mask (`datasets_scripts.synth.cues.CUES`).
CUE_TERMS = {
    "glare": r"glare|sheen|glossy",
    "bezel": r"bezel",
    "moire": r"moir[eé]|pixel grid|scan lines|banding|reflections? on the glass",
    "edges": r"paper edges? around|edges? of the (?:paper|sheet)|white margin|photo border",
    "curl": r"curl|bends?\b|creases?|wrinkles?|folds?",
    "halftone": r"halftone|dot pattern|ink|paper texture",
    "eye_holes": r"eye holes|through the holes",
    "cut_edge": r"outline|along the jaw",
}
_CUE_PATTERN = re.compile("|".join(f"(?P<{cue}>{terms})" for cue, terms in CUE_TERMS.items()), re.IGNORECASE)


def cues_named(text: str) -> list[str]:
    """The cue masks an explanation names, sorted."""
    return sorted({match.lastgroup for match in _CUE_PATTERN.finditer(text)})


def crop_box(face_box, face_crop: dict | None, image_size: tuple[int, int]) -> list[float]:
    """The square (x1, y1, x2, y2), in the input's pixels, that the model saw: the face crop `faces_ifas.square_crop`
    cuts around `face_box` (it may reach outside the image), or the whole `image_size` (width, height) image."""
    if face_box is None or not face_crop:
        return [0.0, 0.0, float(image_size[0]), float(image_size[1])]
    x1, y1, x2, y2 = face_box
    side = face_crop["scale"] * max(x2 - x1, y2 - y1)
    left, top = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
    return [float(left), float(top), float(left + round(side)), float(top + round(side))]


def _grid(attribution: torch.Tensor) -> torch.Tensor:
    """(batch, num_patches) -> (batch, rows, cols); a leading CLS token (select strategy 'full') is dropped."""
    count = attribution.shape[1]
    side = math.isqrt(count)
    if side * side != count and math.isqrt(count - 1) ** 2 == count - 1:
        attribution, side = attribution[:, 1:], math.isqrt(count - 1)
    if side * side != attribution.shape[1]:
        raise ValueError(f"heat maps need a square patch grid; the vision tower gives {count} patch features")
    return attribution.reshape(len(attribution), side, side)


def _normalised(attribution: torch.Tensor) -> torch.Tensor:
    evidence = attribution.clamp(min=0)
    peak = evidence.flatten(1).amax(dim=1).clamp(min=1e-12)[:, None, None]
    return evidence / peak


def cue_token_mask(tokenizer, token_ids: list[int]) -> list[bool]:
    """Which generated tokens spell a cue word (`CUE_TERMS`) of the decoded explanation."""
    ends = [len(tokenizer.decode(token_ids[: i + 1], skip_special_tokens=True)) for i in range(len(token_ids))]
    text = tokenizer.decode(token_ids, skip_special_tokens=True)
    spans = [match.span() for match in _CUE_PATTERN.finditer(text)]
    starts = [0] + ends[:-1]
    return [any(s < end and start < e for s, e in spans) for start, end in zip(starts, ends)]


def answer_heatmaps(model, processor, inputs, is_live: torch.Tensor, new_tokens: torch.Tensor) -> list[dict]:
    """``heatmap`` and ``explanation_heatmap`` (numpy float32, rows x cols, max 1) per answer.

    `inputs` are the left-padded prompts `judge` scored, `is_live` its judgments, `new_tokens` the generated
    explanations (batch x steps, padded with the pad token or cut at end of turn)."""
    live_id, spoof_id = model.judgment_token_ids()
    tokenizer = processor.tokenizer
    pad_ids = {tokenizer.pad_token_id, model.generation_config.pad_token_id} - {None}
    eos = model.generation_config.eos_token_id
    stop_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
    input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
    judgment = torch.where(is_live, live_id, spoof_id).to(input_ids).unsqueeze(1)
    keep = torch.ones_like(new_tokens, dtype=torch.bool)
    for row in range(len(new_tokens)):
        for step, token in enumerate(new_tokens[row].tolist()):
            if token in stop_ids or token in pad_ids:
                keep[row, step:] = False
                break
    prompt_length = input_ids.shape[1]
    sequence = torch.cat([input_ids, judgment, new_tokens.to(input_ids)], dim=1)
    mask = torch.cat([attention_mask, torch.ones_like(judgment), keep.to(attention_mask)], dim=1)
    vision_dtype = next(model.model.vision_tower.parameters()).dtype
    with torch.no_grad():
        global_tokens, patch_features = model.model.encode_images(inputs["pixel_values"].to(vision_dtype))
    patch_features = patch_features.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(input_ids=sequence, attention_mask=mask, vision_global_tokens=global_tokens,
                       vision_patch_features=patch_features, use_cache=False).logits.float()
        answer = logits[:, prompt_length - 1]
        sign = torch.where(is_live, 1.0, -1.0).to(answer)
        margin = sign * (answer[:, live_id] - answer[:, spoof_id])
        log_probs = logits[:, prompt_length : prompt_length + new_tokens.shape[1]].log_softmax(-1)
        token_log_probs = log_probs.gather(-1, new_tokens.to(logits.device).unsqueeze(-1)).squeeze(-1)
        cue_tokens = torch.zeros_like(keep)
        for row in range(len(new_tokens)):
            length = int(keep[row].sum())
            marks = cue_token_mask(tokenizer, new_tokens[row, :length].tolist())
            cue_tokens[row, :length] = torch.tensor(marks if any(marks) else [True] * length, dtype=torch.bool,
                                                    device=cue_tokens.device)
        cue_log_prob = (token_log_probs * cue_tokens.to(token_log_probs)).sum()
        margin_grad = torch.autograd.grad(margin.sum(), patch_features, retain_graph=True)[0]
        cue_grad = torch.autograd.grad(cue_log_prob, patch_features, allow_unused=True)[0]
    features = patch_features.detach().float()
    judgment_map = _normalised(_grid((margin_grad.float() * features).sum(-1)))
    cue_map = torch.zeros_like(judgment_map) if cue_grad is None else _normalised(
        _grid((cue_grad.float() * features).sum(-1)))
    return [
        {"heatmap": judged.cpu().numpy(), "explanation_heatmap": explained.cpu().numpy()}
        for judged, explained in zip(judgment_map, cue_map)
    ]


def _colour(values: np.ndarray) -> np.ndarray:
    """A dark-blue -> red -> yellow ramp for values in [0, 1] (uint8 RGB)."""
    red = np.clip(2.0 * values, 0, 1)
    green = np.clip(2.0 * values - 1.0, 0, 1)
    blue = np.clip(0.6 - 1.2 * values, 0, 1)
    return (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


def overlay(image: Image.Image, heatmap, box, alpha: float = 0.5) -> Image.Image:
    """The crop `box` of `image` (black beyond its border) with `heatmap` blended over it, as an RGB image of the
    crop's size.

    >>> overlay(Image.new("RGB", (40, 30)), [[0.0, 1.0], [0.5, 0.0]], [5, 0, 25, 20]).size
    (20, 20)
    """
    left, top, right, bottom = (int(round(v)) for v in box)
    crop = image.convert("RGB").crop((left, top, right, bottom))
    values = np.asarray(heatmap, dtype=np.float32)
    levels = (np.clip(values, 0, 1) * 255).astype(np.uint8)
    scaled = Image.fromarray(levels).resize(crop.size, Image.Resampling.BILINEAR)
    colours = Image.fromarray(_colour(np.asarray(scaled, dtype=np.float32) / 255.0))
    return Image.blend(crop, colours, alpha)


def overlay_panel(crop: Image.Image, answer: dict) -> Image.Image:
    """The image the model saw, beside its judgment map and its explanation map (one RGB strip).

    >>> answer = {"heatmap": [[1.0]], "explanation_heatmap": [[0.0]], "heatmap_box": [0, 0, 8, 8]}
    >>> overlay_panel(Image.new("RGB", (8, 8)), answer).size
    (24, 8)
    """
    box = answer["heatmap_box"]
    parts = [overlay(crop, np.zeros_like(np.asarray(answer["heatmap"])), box, alpha=0.0),
             overlay(crop, answer["heatmap"], box), overlay(crop, answer["explanation_heatmap"], box)]
    panel = Image.new("RGB", (sum(part.width for part in parts), parts[0].height))
    for index, part in enumerate(parts):
        panel.paste(part, (index * parts[0].width, 0))
    return panel
