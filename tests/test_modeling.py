import pytest
import torch

from ifas.model_builders import tiny_ifas
from tiny_inputs import random_image


def make_batch(processor, n=2, answer="Yes. Natural skin texture."):
    prompts = [processor.apply_chat_template(processor.messages(answer=answer), tokenize=False)] * n
    images = [random_image(i) for i in range(n)]
    batch = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    batch["labels"] = batch["input_ids"].masked_fill(batch["input_ids"] == processor.image_token_id, -100)
    return batch


@pytest.mark.parametrize("tower", ["clip", "dinov2", "siglip", "vit"])
def test_forward_shapes_and_loss(tower):
    model, processor = tiny_ifas(tower)
    batch = make_batch(processor)
    out = model(**batch)
    assert out.logits.shape == (*batch["input_ids"].shape, model.config.text_config.vocab_size)
    assert out.image_hidden_states.shape == (2, model.config.num_image_tokens, model.config.text_config.hidden_size)
    assert torch.isfinite(out.loss) and out.loss > 0
    out.loss.backward()
    assert model.model.gac.prefix_queries.weight.grad.abs().sum() > 0


def capture_tapped_hidden_states(model):
    captured = []
    original = model.model._global_token

    def spy(hidden_state):
        hidden_state.retain_grad()
        captured.append(hidden_state)
        return original(hidden_state)

    model.model._global_token = spy
    return captured


def test_gradient_reaches_every_tapped_layer_global_token():
    model, processor = tiny_ifas("dinov2", gac_layers=[0, 1, 2])
    captured = capture_tapped_hidden_states(model)
    features = model.get_image_features(make_batch(processor)["pixel_values"])
    gac_tokens = features[:, model.config.num_patch_tokens :]
    assert gac_tokens.shape[1] == model.config.gac_num_queries + 3
    gac_tokens.pow(2).sum().backward()
    assert len(captured) == 3
    for hidden_state in captured:
        assert hidden_state.grad[:, 0].abs().sum() > 0  # the CLS (global) token of that layer


def test_append_vs_replace():
    append_model, processor = tiny_ifas("dinov2")
    replace_model, _ = tiny_ifas("dinov2", gac_mode="replace")
    pixel_values = make_batch(processor)["pixel_values"]
    appended = append_model.get_image_features(pixel_values)
    replaced = replace_model.get_image_features(pixel_values)
    assert appended.shape[1] == 16 + 6 and replaced.shape[1] == 6
    # same seed, same GAC weights: the replace tokens are exactly the appended GAC tokens
    torch.testing.assert_close(replaced, appended[:, 16:])


def test_mean_pooling_on_siglip():
    model, processor = tiny_ifas("siglip")
    captured = capture_tapped_hidden_states(model)
    model.get_image_features(make_batch(processor)["pixel_values"])
    assert captured and all(h.shape[1] == 16 for h in captured)  # no CLS token on SigLIP
    with pytest.raises(ValueError, match="gac_global_pool='mean'"):
        cls_model, cls_processor = tiny_ifas("siglip", gac_global_pool="cls")
        cls_model.get_image_features(make_batch(cls_processor)["pixel_values"])


def test_placeholder_mismatch_raises(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    batch = make_batch(processor)
    image_positions = (batch["input_ids"][0] == processor.image_token_id).nonzero()
    batch["input_ids"][0, image_positions[0]] = processor.tokenizer.pad_token_id
    with pytest.raises(ValueError, match="Image features and image tokens do not match"):
        model(**batch)


def test_score_equals_hand_softmax_and_first_generated_token(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    images = [random_image(3), random_image(4)]
    scores = model.score(processor, images)
    inputs = processor.prepare_inputs(images)
    live_id, spoof_id = model.config.judgment_token_ids
    with torch.no_grad():
        logits = model(**inputs).logits[:, -1]
    pair = torch.stack([logits[:, live_id], logits[:, spoof_id]], -1)
    assert scores.dtype == torch.float64  # sigmoid of the margin, unsaturated
    torch.testing.assert_close(scores.float(), pair.softmax(-1)[:, 0])
    generated = model.generate(**inputs, max_new_tokens=1, do_sample=False, output_logits=True,
                               return_dict_in_generate=True)
    first = generated.logits[0]
    torch.testing.assert_close(scores.float(), torch.stack([first[:, live_id], first[:, spoof_id]], -1).softmax(-1)[:, 0])
    torch.testing.assert_close(generated.sequences[:, -1], first.argmax(-1))


def test_mixed_batch_scores_like_one_at_a_time(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    images = [random_image(5, (40, 30)), random_image(6, (16, 16), "L"), random_image(7, (9, 50), "RGBA")]
    batched = model.score(processor, images, batch_size=3)
    single = torch.cat([model.score(processor, [image]) for image in images])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


def test_generate_with_kv_cache_matches_no_cache(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    inputs = processor.prepare_inputs([random_image(8)])
    cached = model.generate(**inputs, max_new_tokens=6, do_sample=False, use_cache=True)
    uncached = model.generate(**inputs, max_new_tokens=6, do_sample=False, use_cache=False)
    assert torch.equal(cached, uncached)


def test_judge_returns_judgment_score_and_explanation(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    images = [random_image(9), random_image(10)]
    results = model.judge(processor, images, max_new_tokens=4)
    scores = model.score(processor, images)
    for result, score in zip(results, scores.tolist()):
        assert result["judgment"] in ("Yes", "No")
        assert result["is_live"] == (score >= 0.5) == (result["judgment"] == "Yes")
        assert result["p_live"] == pytest.approx(score, abs=1e-6)
        assert isinstance(result["explanation"], str)


def test_judge_uses_calibrated_threshold(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    image = random_image(11)
    score = float(model.score(processor, [image])[0])
    try:
        model.config.threshold = min(score + 0.01, 1.0)
        assert model.judge(processor, [image], max_new_tokens=1)[0]["judgment"] == "No"
        model.config.threshold = max(score - 0.01, 0.0)
        assert model.judge(processor, [image], max_new_tokens=1)[0]["judgment"] == "Yes"
    finally:
        model.config.threshold = None


def test_generate_follows_calibrated_threshold(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    live_id, spoof_id = model.config.judgment_token_ids
    inputs = processor.prepare_inputs([random_image(12)])
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
    # make the untrained model answer with a judgment word, as a trained one does
    model.lm_head.bias = torch.nn.Parameter(torch.zeros(logits.shape[0]))
    model.lm_head.bias.data[[live_id, spoof_id]] = 100.0
    try:
        score = float(model.score(processor, [random_image(12)])[0])
        for threshold, expected in ((min(score + 0.01, 1.0), spoof_id), (max(score - 0.01, 0.0), live_id)):
            model.config.threshold = threshold
            first = model.generate(**inputs, max_new_tokens=1, do_sample=False)[0, -1]
            assert int(first) == expected
    finally:
        model.config.threshold = None
        model.lm_head.bias = None
