"""GAC and the visual tokens against a reference written out from the paper's equations (plain torch ops, float64).

    G_V = per tapped layer: its CLS token, or the mean of its patch tokens (never the CLS) under pool "mean"
    Q_V = Linear(G_V);  Q = [Q_P; Q_V]
    Q'  = Q  + MSA(LN(Q))
    Q'' = Q' + MCA(LN(Q'), LN(X_V))          X_V: the patch tokens of the feature layer(s), channels concatenated
    X_T = Q'' + MLP(LN(Q''));  tokens = Linear(LN(X_T))
    visual tokens = [MLP projector(X_V); tokens] ("append") or tokens alone ("replace")
"""

import math

import pytest
import torch

from ifas.model_builders import tiny_ifas
from tiny_inputs import random_image


def perturb(module, seed=1):
    """Move every parameter off its initial value (LayerNorms start at 1/0, which hides swapped norms)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))


def linear(x, layer):
    return x @ layer.weight.double().T + layer.bias.double()


def layer_norm(x, norm):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight.double() + norm.bias.double()


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def attention(queries, keys_values, module, num_heads):
    """Multi-head attention: softmax(q k^T / sqrt(d_head)) v per head, heads concatenated, output projection."""
    batch, n_q, dim = queries.shape
    d_head = dim // num_heads
    q = linear(queries, module.q_proj).view(batch, n_q, num_heads, d_head).permute(0, 2, 1, 3)
    k = linear(keys_values, module.k_proj).view(batch, -1, num_heads, d_head).permute(0, 2, 1, 3)
    v = linear(keys_values, module.v_proj).view(batch, -1, num_heads, d_head).permute(0, 2, 1, 3)
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d_head), dim=-1)
    merged = (weights @ v).permute(0, 2, 1, 3).reshape(batch, n_q, dim)
    return linear(merged, module.o_proj)


def reference_visual_tokens(model, pixel_values):
    """The visual tokens computed by hand from the tower's hidden states and the model's weights."""
    config = model.config
    with torch.no_grad():
        hidden = model.model.vision_tower(pixel_values, output_hidden_states=True).hidden_states
    hidden = [h.double() for h in hidden]
    has_cls = config.vision_config.model_type != "siglip_vision_model"
    first_patch = 1 if has_cls and config.vision_feature_select_strategy == "default" else 0
    feature_layers = config.vision_feature_layer if isinstance(config.vision_feature_layer, list) else [
        config.vision_feature_layer]
    x_v = torch.cat([hidden[i][:, first_patch:] for i in feature_layers], dim=-1)
    tapped = config.gac_layers or range(1, config.vision_config.num_hidden_layers + 1)
    if config.gac_global_pool == "cls":
        g_v = torch.stack([hidden[i][:, 0] for i in tapped], dim=1)
    else:
        start = 1 if has_cls else 0
        g_v = torch.stack([hidden[i][:, start:].mean(dim=1) for i in tapped], dim=1)

    gac = model.model.gac
    heads = config.vision_config.num_attention_heads
    # Q_V = Linear(G_V), after the per-layer standardisation (identity until `calibrate_connector` sets it)
    standardized = (g_v - gac.global_shift.double()) * gac.global_scale.double()
    q_v = linear(standardized, gac.global_proj)
    q_p = gac.prefix_queries.weight.double().unsqueeze(0).expand(g_v.shape[0], -1, -1)
    q = torch.cat([q_p, q_v], dim=1)
    for block in gac.blocks:
        normed = layer_norm(q, block.self_attn_norm)
        q = q + attention(normed, normed, block.self_attn, heads)
        q = q + attention(layer_norm(q, block.cross_attn_norm), layer_norm(x_v, block.patch_norm), block.cross_attn,
                          heads)
        q = q + linear(gelu(linear(layer_norm(q, block.mlp_norm), block.mlp[0])), block.mlp[2])
    gac_tokens = linear(layer_norm(q, gac.out_norm), gac.out_proj)

    projector = model.model.multi_modal_projector
    patch_tokens = linear(gelu(linear(x_v, projector.linear_1)), projector.linear_2)
    if config.gac_mode == "replace":
        return gac_tokens
    return torch.cat([patch_tokens, gac_tokens], dim=1)


CASES = {
    "dinov2_cls": dict(tower="dinov2"),
    "clip_cls_per_layer": dict(tower="clip"),
    "dinov2_mean_pool_without_cls": dict(tower="dinov2", gac_global_pool="mean"),
    "siglip_mean_pool": dict(tower="siglip"),
    "dinov2_replace": dict(tower="dinov2", gac_mode="replace"),
    "clip_tapped_layers_two_feature_layers": dict(tower="clip", gac_layers=[0, 2], vision_feature_layer=[-2, -1]),
    "siglip_replace_two_blocks": dict(tower="siglip", gac_mode="replace", gac_num_blocks=2, gac_layers=[1]),
}


@pytest.fixture(scope="module")
def pixel_values():
    _, processor = tiny_ifas("dinov2")
    return processor.image_processor([random_image(i, (16, 16)) for i in range(2)], return_tensors="pt")[
        "pixel_values"]


@pytest.mark.parametrize("case", list(CASES))
def test_visual_tokens_match_the_paper_equations(case, pixel_values):
    settings = dict(CASES[case])
    model, _ = tiny_ifas(settings.pop("tower"), **settings)
    perturb(model.model.gac)
    perturb(model.model.multi_modal_projector, seed=2)
    expected = reference_visual_tokens(model, pixel_values)
    with torch.no_grad():
        actual = model.get_image_features(pixel_values)
    assert actual.shape == (2, model.config.num_image_tokens, model.config.text_config.hidden_size)
    torch.testing.assert_close(actual.double(), expected, atol=2e-5, rtol=1e-4)


def test_the_two_images_get_different_tokens_and_every_global_token_counts(pixel_values):
    """Guards the reference itself: the GAC tokens depend on the image and on each layer's global token."""
    model, _ = tiny_ifas("dinov2")
    perturb(model.model.gac)
    tokens = reference_visual_tokens(model, pixel_values)[:, model.config.num_patch_tokens:]
    assert (tokens[0] - tokens[1]).abs().max() > 1e-3
    swapped = reference_visual_tokens(model, pixel_values.flip(0))[:, model.config.num_patch_tokens:]
    torch.testing.assert_close(swapped, tokens.flip(0), atol=1e-6, rtol=1e-5)  # the tower runs in float32


def test_visual_tokens_fill_the_image_positions_of_the_llm_input(pixel_values):
    model, processor = tiny_ifas("clip", gac_layers=[1, 2])
    perturb(model.model.gac)
    prompt = processor.build_prompt()
    batch = processor(images=[random_image(i, (16, 16)) for i in range(2)], text=[prompt, prompt],
                      return_tensors="pt", add_special_tokens=False)
    captured = {}

    def capture(module, args, kwargs):
        captured["embeds"] = kwargs["inputs_embeds"].detach()

    handle = model.model.language_model.register_forward_pre_hook(capture, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        handle.remove()
    expected_tokens = reference_visual_tokens(model, batch["pixel_values"])
    is_image = batch["input_ids"] == processor.image_token_id
    embeds = captured["embeds"].double()
    for row in range(2):
        torch.testing.assert_close(embeds[row][is_image[row]], expected_tokens[row], atol=2e-5, rtol=1e-4)
        text_embeddings = model.get_input_embeddings().weight.double()[batch["input_ids"][row][~is_image[row]]]
        torch.testing.assert_close(embeds[row][~is_image[row]], text_embeddings)
