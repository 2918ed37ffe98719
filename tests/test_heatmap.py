"""Heat maps (`judge(heatmap=True)`, `heatmap_ifas`): gradient x (input - baseline) on the patch features against
finite differences, a model that reads one known patch by construction, cue-word tokens, and the box mapping of a face
off-centre in a non-square image."""

import copy

import numpy as np
import torch
from PIL import Image

from faces_ifas import DEFAULT_FACE_CROP, check_face_crop
from heatmap_ifas import cue_token_mask, cues_named, overlay
from ifas.model_builders import tiny_ifas
from tiny_inputs import random_image


def _hand_margins(model, processor, image, features: torch.Tensor, live: bool) -> np.ndarray:
    """The Yes/No logit margin at the answer position, signed towards the answer, for each row of patch features."""
    inputs = processor.prepare_inputs([image], crop_faces=False)
    global_tokens, _ = model.model.encode_images(inputs["pixel_values"].double())
    rows = len(features)
    with torch.no_grad():
        logits = model(input_ids=inputs["input_ids"].expand(rows, -1),
                       attention_mask=inputs["attention_mask"].expand(rows, -1),
                       vision_global_tokens=global_tokens.expand(rows, -1, -1),
                       vision_patch_features=features).logits[:, -1]
    live_id, spoof_id = model.judgment_token_ids()
    margin = (logits[:, live_id] - logits[:, spoof_id]).numpy()
    return margin if live else -margin


def test_judgment_map_is_gradient_times_input_of_the_margin_by_finite_differences():
    model, processor = tiny_ifas("clip", seed=4)  # GAC on: the patch features reach the LLM two ways
    model = model.double()
    image = random_image(7, (16, 16))
    answer = model.judge(processor, [image], heatmap=True, max_new_tokens=6)[0]
    inputs = processor.prepare_inputs([image], crop_faces=False)
    with torch.no_grad():
        _, features = model.model.encode_images(inputs["pixel_values"].double())
    side, eps = 4, 1e-2
    # d/dt margin(patch p = mean patch + t (patch p - mean patch)) at t = 1 is gradient . (input - baseline) of
    # patch p: central differences, all at once
    scaled = _scaled(features, eps, features.mean(1, keepdim=True))
    margins = _hand_margins(model, processor, image, scaled, answer["is_live"])
    expected = np.clip((margins[0::2] - margins[1::2]) / (2 * eps), 0, None).reshape(side, side)
    assert expected.max() > 0
    np.testing.assert_allclose(answer["heatmap"], expected / expected.max(), atol=1e-2)  # float32 softmax inside
    assert answer["explanation_heatmap"].shape == (side, side)
    assert answer["heatmap_box"] == [0.0, 0.0, 16.0, 16.0]


def test_a_model_that_reads_one_patch_gets_its_maximum_there():
    """No GAC, a projector that reads one feature channel, and that channel set on patch (1, 3) only: the decision
    depends on that patch alone, while every other patch has non-zero features (and non-zero gradients)."""
    model, processor = tiny_ifas("clip", seed=2, use_gac=False)
    with torch.no_grad():
        model.model.multi_modal_projector.linear_1.weight[:, 1:] = 0
    target = (1, 3)

    def encode_images(pixel_values):
        features = torch.randn(len(pixel_values), 16, 32, generator=torch.Generator().manual_seed(0))
        features[:, :, 0] = 0
        features[:, target[0] * 4 + target[1], 0] = 6.0
        return None, features

    model.model.encode_images = encode_images
    answer = model.judge(processor, [random_image(3, (16, 16))], heatmap=True, max_new_tokens=4)[0]
    heatmap = answer["heatmap"]
    assert heatmap.shape == (4, 4)
    assert np.unravel_index(heatmap.argmax(), heatmap.shape) == target and heatmap[target] == 1.0
    # every other patch differs from the mean patch by 6 / 16 on the read channel, the target by 6 - 6 / 16
    assert np.delete(heatmap.ravel(), target[0] * 4 + target[1]).max() < 0.25
    assert answer["heatmap_share"] == 1.0  # no GAC: every bit of evidence comes through the patches


def test_cue_words_are_found_in_text_and_tokens(tiny_model_and_processor):
    assert cues_named("Screen replay: glare on the glass and the device bezel at the edge.") == ["bezel", "glare"]
    assert cues_named("Paper mask: cut-out eye holes and a sharp paper outline.") == ["cut_edge", "eye_holes"]
    assert cues_named("Live face: natural skin texture.") == []
    tokenizer = tiny_model_and_processor[1].tokenizer
    ids = tokenizer("Screen replay: glare and a bezel.", add_special_tokens=False)["input_ids"]
    marks = cue_token_mask(tokenizer, ids)
    marked = tokenizer.decode([t for t, m in zip(ids, marks) if m])
    assert "glare" in marked and "bezel" in marked and "Screen" not in marked and "replay" not in marked


def test_judge_without_heatmap_adds_no_keys(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    answer = model.judge(processor, [random_image(1)], max_new_tokens=2)[0]
    assert not {"heatmap", "explanation_heatmap", "heatmap_box"} & set(answer)


def test_heatmap_box_is_the_face_crop_of_a_non_square_image(tiny_model_and_processor):
    from skimage import data as skimage_data  # face photos from registry packages; MTCNN from facenet-pytorch

    model, processor = tiny_model_and_processor
    cropping = copy.deepcopy(processor)
    cropping.face_crop = check_face_crop(DEFAULT_FACE_CROP)
    face = Image.fromarray(skimage_data.astronaut()).crop((150, 30, 300, 210))
    image = Image.new("RGB", (700, 400), (90, 120, 150))
    image.paste(face, (30, 200))  # left and low: far from the centre of a wide image
    answer = model.judge(cropping, [image], heatmap=True, max_new_tokens=3)[0]
    rows = int(model.config.vision_config.image_size) // int(model.config.vision_config.patch_size)
    assert answer["heatmap"].shape == answer["explanation_heatmap"].shape == (rows, rows)
    x1, y1, x2, y2 = answer["face_box"]
    side = DEFAULT_FACE_CROP["scale"] * max(x2 - x1, y2 - y1)
    left, top = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
    assert answer["heatmap_box"] == [left, top, left + round(side), top + round(side)]
    assert answer["heatmap_box"][2] < 350 and answer["heatmap_box"][1] > 150
    seen = cropping.detect_faces([image])[0].image  # the pixels the model saw
    box = [int(v) for v in answer["heatmap_box"]]
    again = image.crop(box).resize(seen.size, Image.Resampling.BICUBIC)
    assert np.array_equal(np.asarray(again), np.asarray(seen))
    assert overlay(image, answer["heatmap"], answer["heatmap_box"]).size == (box[2] - box[0], box[3] - box[1])


def _hand_objectives(model, sequence, prompt_length: int, features, global_tokens, live: bool, marks):
    """Per row of (patch features, global tokens), from one full forward over `sequence` (prompt, judgment word,
    explanation): the Yes/No margin signed towards the answer, and the summed log-probabilities of the marked
    explanation tokens."""
    rows = max(len(features), len(global_tokens))
    with torch.no_grad():
        logits = model(input_ids=sequence.expand(rows, -1), attention_mask=torch.ones_like(sequence).expand(rows, -1),
                       vision_global_tokens=global_tokens.expand(rows, -1, -1),
                       vision_patch_features=features.expand(rows, -1, -1)).logits.double()
    live_id, spoof_id = model.judgment_token_ids()
    margin = logits[:, prompt_length - 1, live_id] - logits[:, prompt_length - 1, spoof_id]
    tokens = sequence[0, prompt_length + 1 :]
    log_probs = logits[:, prompt_length : prompt_length + len(tokens)].log_softmax(-1)[:, torch.arange(len(tokens)),
                                                                                         tokens]
    cue = (log_probs * torch.tensor(marks, dtype=torch.float64)).sum(-1)
    return (margin if live else -margin).numpy(), cue.numpy()


def _scaled(tokens: torch.Tensor, eps: float, baseline: torch.Tensor) -> torch.Tensor:
    """(1, T, D) -> (2T, T, D): row 2t has token t moved to baseline + (1 + eps) (token - baseline), row 2t + 1 to
    baseline + (1 - eps) (token - baseline); `baseline` broadcasts against `tokens`."""
    offsets = (tokens - baseline).expand_as(tokens)[0]
    rows = tokens.repeat(2 * tokens.shape[1], 1, 1)
    for token in range(tokens.shape[1]):
        rows[2 * token, token] += eps * offsets[token]
        rows[2 * token + 1, token] -= eps * offsets[token]
    return rows


def test_both_maps_of_a_batch_are_gradient_times_input_by_finite_differences():
    """Two images, explanations of different lengths (one padded after its end of turn, one naming cues): each row's
    maps against central differences of its own margin and of its cue words' log-probability, per patch (d/dt of
    the objective with the patch at mean patch + t (patch - mean patch), at t = 1), and each map's evidence share
    against the same differences per global token (around the GAC's per-layer calibration mean)."""
    from heatmap_ifas import answer_heatmaps

    model, processor = tiny_ifas("clip", seed=4)
    model = model.double()
    with torch.no_grad():  # a calibrated GAC: the global tokens' baseline is its per-layer mean
        model.model.gac.global_shift.normal_(generator=torch.Generator().manual_seed(0))
    tokenizer = processor.tokenizer
    images = [random_image(7, (16, 16)), random_image(8, (16, 16))]
    texts = ["Screen replay: glare and a bezel.", "Live face."]
    explanations = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    stop = model.generation_config.eos_token_id
    stop = stop[0] if isinstance(stop, list) else stop
    width = max(map(len, explanations)) + 2
    new_tokens = torch.tensor([ids + [stop] * (width - len(ids)) for ids in explanations])
    is_live = torch.tensor([False, True])
    inputs = processor.prepare_inputs(images, crop_faces=False)
    maps = answer_heatmaps(model, processor, inputs, is_live, new_tokens)
    live_id, spoof_id = model.judgment_token_ids()
    side, eps, prompt_length = 4, 1e-2, inputs["input_ids"].shape[1]
    for row, ids in enumerate(explanations):
        marks = cue_token_mask(tokenizer, ids)
        marks = marks if any(marks) else [True] * len(ids)
        assert any(marks) and (row == 1 or not all(marks))  # the first explanation names cues, not every token
        with torch.no_grad():
            global_tokens, features = model.model.encode_images(inputs["pixel_values"][row : row + 1].double())
        live = bool(is_live[row])
        sequence = torch.cat([inputs["input_ids"][row : row + 1],
                              torch.tensor([[live_id if live else spoof_id, *ids]])], dim=1)
        by_patch = _hand_objectives(model, sequence, prompt_length, _scaled(features, eps, features.mean(1)),
                                    global_tokens, live, marks)
        by_global = _hand_objectives(model, sequence, prompt_length, features,
                                     _scaled(global_tokens, eps, model.model.gac.global_shift), live, marks)
        for index, key in enumerate(("heatmap", "explanation_heatmap")):
            patch = (by_patch[index][0::2] - by_patch[index][1::2]) / (2 * eps)
            global_ = (by_global[index][0::2] - by_global[index][1::2]) / (2 * eps)
            expected = np.clip(patch, 0, None).reshape(side, side)
            assert expected.max() > 0
            np.testing.assert_allclose(maps[row][key], expected / expected.max(), atol=1e-2, err_msg=f"{row} {key}")
            share = np.abs(patch).sum() / (np.abs(patch).sum() + np.abs(global_).sum())
            assert 0.01 < share < 0.99
            np.testing.assert_allclose(maps[row][f"{key}_share"], share, rtol=2e-2, err_msg=f"{row} {key}")


def test_judge_runs_the_vision_tower_once_per_image_batch(tiny_model_and_processor):
    """The judgment, the generated explanation and both heat maps share one tower forward."""
    model, processor = tiny_model_and_processor
    calls = []
    handle = model.model.vision_tower.register_forward_hook(lambda module, args, output: calls.append(1))
    try:
        answers = model.judge(processor, [random_image(1), random_image(2)], heatmap=True, max_new_tokens=3)
    finally:
        handle.remove()
    assert len(answers) == 2 and len(calls) == 1
