"""Heat maps for I-FAS answers: where in the face crop the evidence for the judgment and for the named cues lies.

Method: gradient x (input - baseline) on the patch features (the vision tower's output at `vision_feature_layer`,
which feed both the projector and the GAC's cross-attention), the baseline being the image's mean patch feature:
a patch's attribution is the first-order change of the answer if that patch looked like the average patch. Plain
gradient x input would be blind here: the GAC normalises each patch feature (a per-token LayerNorm) before its
cross-attention, which makes the answer invariant to scaling a patch, so gradient x input is zero for every patch
of a `gac_mode="replace"` model. The frozen tower's outputs are `judge`'s own (it runs once per image); one forward
of the LLM over the prompt, the decided judgment word and the generated explanation up to its last cue token, then
one batched backward pass (two gradients) that stops at the vision features:

* ``heatmap``: from the Yes/No logit margin at the answer position, the quantity that decides the judgment, signed
  towards the answer given (logit(No) - logit(Yes) for a "No");
* ``explanation_heatmap``: from the summed log-probabilities of the explanation tokens that name a cue
  (`CUE_TERMS`; every explanation token when none does).

Per patch, the attribution is summed over channels; its positive part (evidence for the answer) is scaled to a
maximum of 1 (all zeros when no patch speaks for it). The map is a (rows, cols) grid over the image the model saw:
`crop_box` gives that square in the input's pixels (the face crop around ``face_box``, or the whole image),
`overlay` draws a map over it. The global tokens the GAC reads (CLS per tapped layer) have no place in the image;
``heatmap_share`` says how much of the answer's first-order evidence the map shows against them (`evidence_share`;
their baseline is the GAC's calibration mean per layer, ``gac.global_shift``).

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


def answer_heatmaps(model, processor, inputs, is_live: torch.Tensor, new_tokens: torch.Tensor,
                    vision: dict | None = None) -> list[dict]:
    """``heatmap`` and ``explanation_heatmap`` (numpy float32, rows x cols, max 1) per answer, and their
    ``heatmap_share`` / ``explanation_heatmap_share`` (`evidence_share`).

    `inputs` are the left-padded prompts `judge` scored, `is_live` its judgments, `new_tokens` the generated
    explanations (batch x steps, padded with the pad token or cut at end of turn), `vision` the tower's outputs
    (`model.vision_features`; computed here when None). The LLM runs once, over the prompt, the judgment word and
    the explanation up to its last cue token; the language-model head only where a quantity needs it; one batched
    backward pass gives both maps."""
    live_id, spoof_id = model.judgment_token_ids()
    tokenizer = processor.tokenizer
    input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
    cue_tokens = _cue_tokens(model, tokenizer, new_tokens)
    steps = int(cue_tokens.any(0).nonzero().max()) + 1 if cue_tokens.any() else 0
    judgment = torch.where(is_live, live_id, spoof_id).to(input_ids).unsqueeze(1)
    prompt_length = input_ids.shape[1]
    sequence = torch.cat([input_ids, judgment, new_tokens[:, : max(steps - 1, 0)].to(input_ids)], dim=1)
    mask = torch.cat([attention_mask, torch.ones_like(sequence[:, prompt_length:])], dim=1)
    vision = model.vision_features(inputs["pixel_values"]) if vision is None else vision
    patch_features = vision["vision_patch_features"].detach().requires_grad_(True)
    global_tokens = vision["vision_global_tokens"]
    global_tokens = None if global_tokens is None else global_tokens.detach().requires_grad_(True)
    head = model.get_output_embeddings()
    with torch.enable_grad():
        hidden = model.model(input_ids=sequence, attention_mask=mask, use_cache=False,
                             vision_global_tokens=global_tokens,
                             vision_patch_features=patch_features)["last_hidden_state"]
        answer = head(hidden[:, prompt_length - 1]).float()
        sign = torch.where(is_live, 1.0, -1.0).to(answer)
        margin = (sign * (answer[:, live_id] - answer[:, spoof_id])).sum()
        cue_positions = cue_tokens[:, :steps].to(hidden.device)
        cue_logits = head(hidden[:, prompt_length : prompt_length + steps][cue_positions]).float()
        cue_log_prob = cue_logits.log_softmax(-1).gather(
            -1, new_tokens[:, :steps].to(hidden.device)[cue_positions].unsqueeze(-1)).sum()
        objectives = torch.stack([margin, cue_log_prob])
        wrt = [patch_features] + ([global_tokens] if global_tokens is not None else [])
        grads = torch.autograd.grad(objectives, wrt, is_grads_batched=True,
                                    grad_outputs=torch.eye(2, device=objectives.device))
    # per token and objective (judgment, explanation): gradient x (input - baseline) summed over channels
    features = patch_features.detach().float()
    patches = (grads[0].float() * (features - features.mean(1, keepdim=True))).sum(-1)
    globals_ = None
    if global_tokens is not None:
        shift = model.model.gac.global_shift.detach().float()
        globals_ = (grads[1].float() * (global_tokens.detach().float() - shift)).sum(-1)
    shares = evidence_share(patches, globals_)
    judgment_map, cue_map = _normalised(_grid(patches[0])), _normalised(_grid(patches[1]))
    return [
        {"heatmap": judged.cpu().numpy(), "explanation_heatmap": explained.cpu().numpy(),
         "heatmap_share": float(judged_share), "explanation_heatmap_share": float(explained_share)}
        for judged, explained, judged_share, explained_share in zip(judgment_map, cue_map, shares[0], shares[1])
    ]


def evidence_share(patches: torch.Tensor, global_tokens: torch.Tensor | None) -> torch.Tensor:
    """The patch features' share of an objective's first-order evidence: sum |attribution| over the patches over
    the same sum over the patches and the GAC's global tokens (inputs `(..., tokens)`, attributions against each
    kind's baseline; 1 without GAC, 0 when nothing moves the objective). Near 0, the answer came through the global
    tokens and the map has little to show.

    >>> evidence_share(torch.tensor([[0.5, -0.5]]), torch.tensor([[3.0]]))
    tensor([0.2500])
    """
    patch_part = patches.abs().sum(-1)
    total = patch_part + (global_tokens.abs().sum(-1) if global_tokens is not None else 0.0)
    return torch.where(total > 0, patch_part / total.clamp(min=1e-30), torch.zeros_like(total))


def _cue_tokens(model, tokenizer, new_tokens: torch.Tensor) -> torch.Tensor:
    """(batch, steps) bool: the explanation tokens whose log-probability the explanation map follows, those that
    name a cue (`cue_token_mask`), or every token of an explanation that names none; nothing after its end."""
    pad_ids = {tokenizer.pad_token_id, model.generation_config.pad_token_id} - {None}
    eos = model.generation_config.eos_token_id
    stop_ids = set(eos if isinstance(eos, list) else [eos]) - {None} | pad_ids
    marks = torch.zeros(new_tokens.shape, dtype=torch.bool)
    for row, tokens in enumerate(new_tokens.tolist()):
        length = next((step for step, token in enumerate(tokens) if token in stop_ids), len(tokens))
        cue = cue_token_mask(tokenizer, tokens[:length])
        marks[row, :length] = torch.tensor(cue if any(cue) else [True] * length, dtype=torch.bool)
    return marks


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
