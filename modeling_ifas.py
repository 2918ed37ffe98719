"""I-FAS model: a vision tower, an MLP projector, the Globally Aware Connector (GAC) and a causal LM (LLaVA 5.x layout).

GAC (paper §2.2): the global token g_i of every tapped vision layer is projected, joined with learnable prefix
queries Q_P, and refined by pre-LN blocks

    Q'  = Q  + MSA(LN(Q))
    Q'' = Q' + MCA(LN(Q'), LN(X_V))        # X_V: the patch features the projector also sees
    X_T = Q'' + MLP(LN(Q''))

before a projection to the LLM width. Its tokens follow the MLP-projected patch tokens (`gac_mode="append"`) or
replace them (`"replace"`). The loss inside `forward` is the plain causal-LM loss; the lopsided L-LM loss lives in
`train_sft.py`.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers import AutoModel, GenerationMixin, LogitsProcessor, LogitsProcessorList, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import CausalLMOutputWithPast

try:
    from .configuration_ifas import IFASConfig
    from .heatmap_ifas import answer_heatmaps, crop_box
    from .validation_ifas import as_image_list, check_batch_size, check_checkpoint, check_prompt_length, check_question
except ImportError:  # imported from the installed project rather than from a checkpoint's remote code
    from configuration_ifas import IFASConfig
    from heatmap_ifas import answer_heatmaps, crop_box
    from validation_ifas import as_image_list, check_batch_size, check_checkpoint, check_prompt_length, check_question


@dataclass
class IFASCausalLMOutputWithPast(CausalLMOutputWithPast):
    """Causal-LM output plus the visual tokens fed to the LLM, shape `(batch, num_image_tokens, text_hidden)`."""

    image_hidden_states: torch.FloatTensor | None = None


class IFASMultiModalProjector(nn.Module):
    """LLaVA's two-layer MLP from (concatenated) vision features to the LLM width."""

    def __init__(self, config: IFASConfig):
        super().__init__()
        num_layers = 1 if isinstance(config.vision_feature_layer, int) else len(config.vision_feature_layer)
        self.linear_1 = nn.Linear(config.vision_config.hidden_size * num_layers, config.text_config.hidden_size)
        self.act = ACT2FN[config.projector_hidden_act]
        self.linear_2 = nn.Linear(config.text_config.hidden_size, config.text_config.hidden_size)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(image_features)))


class IFASAttention(nn.Module):
    """Multi-head attention from `dim`-wide queries to `kv_dim`-wide keys/values (SDPA)."""

    def __init__(self, dim: int, kv_dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"GAC width {dim} is not divisible by gac_num_heads={num_heads}")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(kv_dim, dim)
        self.v_proj = nn.Linear(kv_dim, dim)
        self.o_proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, keys_values: torch.Tensor) -> torch.Tensor:
        batch, num_queries, dim = queries.shape

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, -1, self.num_heads, dim // self.num_heads).transpose(1, 2)

        q, k, v = heads(self.q_proj(queries)), heads(self.k_proj(keys_values)), heads(self.v_proj(keys_values))
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.o_proj(attended.transpose(1, 2).reshape(batch, num_queries, dim))


class IFASGACBlock(nn.Module):
    """One pre-LN block: self-attention among the queries, cross-attention to the patch features, MLP."""

    def __init__(self, dim: int, patch_dim: int, num_heads: int, mlp_ratio: float, eps: float):
        super().__init__()
        self.self_attn_norm = nn.LayerNorm(dim, eps=eps)
        self.self_attn = IFASAttention(dim, dim, num_heads)
        self.cross_attn_norm = nn.LayerNorm(dim, eps=eps)
        self.patch_norm = nn.LayerNorm(patch_dim, eps=eps)
        self.cross_attn = IFASAttention(dim, patch_dim, num_heads)
        self.mlp_norm = nn.LayerNorm(dim, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, queries: torch.Tensor, patch_features: torch.Tensor) -> torch.Tensor:
        normed = self.self_attn_norm(queries)
        queries = queries + self.self_attn(normed, normed)
        queries = queries + self.cross_attn(self.cross_attn_norm(queries), self.patch_norm(patch_features))
        return queries + self.mlp(self.mlp_norm(queries))


class IFASGlobalAwareConnector(nn.Module):
    """GAC: per-layer global tokens + learnable prefix queries → pre-LN blocks → LLM-width visual tokens."""

    def __init__(self, config: IFASConfig):
        super().__init__()
        vision = config.vision_config
        dim = vision.hidden_size
        num_layers = 1 if isinstance(config.vision_feature_layer, int) else len(config.vision_feature_layer)
        eps = getattr(vision, "layer_norm_eps", 1e-6)
        num_heads = config.gac_num_heads or vision.num_attention_heads
        # Per-layer standardisation of the global tokens before Q_V = Linear(G_V): identity at init, set from data by
        # `ifas.train.connector_init.calibrate_connector` (an affine re-parametrisation of the same linear map).
        self.global_shift = nn.Parameter(torch.zeros(len(config.tapped_layers), dim))
        self.global_scale = nn.Parameter(torch.ones(len(config.tapped_layers), dim))
        self.global_proj = nn.Linear(dim, dim)
        self.prefix_queries = nn.Embedding(config.gac_num_queries, dim)
        self.blocks = nn.ModuleList(
            IFASGACBlock(dim, dim * num_layers, num_heads, config.gac_mlp_ratio, eps)
            for _ in range(config.gac_num_blocks)
        )
        self.out_norm = nn.LayerNorm(dim, eps=eps)
        self.out_proj = nn.Linear(dim, config.text_config.hidden_size)

    def forward(self, global_tokens: torch.Tensor, patch_features: torch.Tensor) -> torch.Tensor:
        """`global_tokens` (B, L, D), `patch_features` (B, N, D·k) → (B, num_queries + L, text_hidden)."""
        prefix = self.prefix_queries.weight.unsqueeze(0).expand(global_tokens.shape[0], -1, -1)
        standardized = (global_tokens - self.global_shift) * self.global_scale
        queries = torch.cat([prefix.to(global_tokens.dtype), self.global_proj(standardized)], dim=1)
        for block in self.blocks:
            queries = block(queries, patch_features)
        return self.out_proj(self.out_norm(queries))


def p_live_from_margin(margin: torch.Tensor) -> torch.Tensor:
    """P(live) = sigmoid(margin) in float64, where margin = logit(live word) - logit(spoof word).

    float32 rounds sigmoid(m) to exactly 1.0 from m ≈ 17 on, so saturated scores would tie and a dev-set threshold
    could land on 1.0; float64 keeps every margin up to ≈ 36 apart (sigmoid(25) < sigmoid(30) < 1).

    >>> p_live_from_margin(torch.tensor([0.0, 25.0, 30.0])).tolist()[0], bool(p_live_from_margin(torch.tensor(30.0)) < 1)
    (0.5, True)
    """
    return torch.sigmoid(margin.double())


class JudgmentThresholdLogitsProcessor(LogitsProcessor):
    """At the first generated position, when the model's top token is a judgment word, let the calibrated
    threshold choose between the two: live word when softmax([live, spoof])[0] >= threshold, else spoof word.
    Other answers (a free-form question) are left untouched. `mirrored_margin` (one per prompt, with
    `config.test_time_mirror`): the margin decided on is the mean of the position's margin and this one."""

    def __init__(self, live_id: int, spoof_id: int, threshold: float, prompt_length: int,
                 mirrored_margin: torch.Tensor | None = None):
        self.live_id, self.spoof_id, self.threshold, self.prompt_length = live_id, spoof_id, threshold, prompt_length
        self.mirrored_margin = mirrored_margin

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] != self.prompt_length:
            return scores
        top = scores.argmax(dim=-1)
        answering = (top == self.live_id) | (top == self.spoof_id)
        margin = scores[:, self.live_id].float() - scores[:, self.spoof_id].float()
        if self.mirrored_margin is not None:  # rows repeat per prompt under num_return_sequences / beams
            mirrored = self.mirrored_margin.to(margin.device)
            margin = (margin + mirrored.repeat_interleave(len(margin) // len(mirrored))) / 2
        p_live = p_live_from_margin(margin)
        chosen = torch.where(p_live >= self.threshold, self.live_id, self.spoof_id)
        forced = torch.full_like(scores, float("-inf"))
        forced.scatter_(1, chosen.unsqueeze(1), 0.0)
        return torch.where(answering.unsqueeze(1), forced, scores)


class ContradictionBanLogitsProcessor(LogitsProcessor):
    """Keep an explanation from contradicting the judgment word at `judgment_position`: `banned` maps a judgment
    token id to the token sequences that may not follow it. A sequence's last token is masked wherever its other
    tokens were just generated; its first token is also masked within the first `lead_tokens` explanation tokens,
    where an answer names what it saw ("No. Live face: ..." cannot start)."""

    def __init__(self, banned: dict[int, list[list[int]]], judgment_position: int, lead_tokens: int = 3):
        self.banned, self.judgment_position, self.lead_tokens = banned, judgment_position, lead_tokens

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] <= self.judgment_position:  # the judgment itself is being generated
            return scores
        scores = scores.clone()
        for row, decision in enumerate(input_ids[:, self.judgment_position].tolist()):
            explanation = input_ids[row, self.judgment_position + 1 :].tolist()
            masked = set()
            for sequence in self.banned.get(decision, ()):
                head = sequence[:-1]
                if len(head) <= len(explanation) and explanation[len(explanation) - len(head) :] == head:
                    masked.add(sequence[-1])
                if len(explanation) < self.lead_tokens:
                    masked.add(sequence[0])
            scores[row, list(masked)] = float("-inf")
        return scores


class IFASPreTrainedModel(PreTrainedModel):
    config_class = IFASConfig
    config: IFASConfig
    base_model_prefix = "model"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _skip_keys_device_placement = ["past_key_values", "cache"]

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, IFASGlobalAwareConnector):
            init.zeros_(module.global_shift)
            init.ones_(module.global_scale)


class IFASModel(IFASPreTrainedModel):
    """Vision tower + MLP projector + GAC + language model (no LM head)."""

    def __init__(self, config: IFASConfig):
        super().__init__(config)
        self.vision_tower = AutoModel.from_config(config.vision_config)
        self.multi_modal_projector = IFASMultiModalProjector(config)
        self.gac = IFASGlobalAwareConnector(config) if config.use_gac else None
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def _patch_tokens(self, hidden_state: torch.Tensor) -> torch.Tensor:
        """Drop the CLS token under strategy 'default' (towers with a CLS token only)."""
        if self.config.vision_has_cls_token and self.config.vision_feature_select_strategy == "default":
            return hidden_state[:, 1:]
        return hidden_state

    def _global_token(self, hidden_state: torch.Tensor) -> torch.Tensor:
        if self.config.gac_global_pool == "cls":
            if not self.config.vision_has_cls_token:
                raise ValueError(
                    f"gac_global_pool='cls' needs a CLS token, but {self.config.vision_config.model_type} has none: "
                    "use gac_global_pool='mean'"
                )
            return hidden_state[:, 0]
        start = 1 if self.config.vision_has_cls_token else 0
        return hidden_state[:, start:].mean(dim=1)

    def encode_images(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """What the connectors read from the vision tower: `(global_tokens, patch_features)`, shapes `(batch,
        len(tapped_layers), D)` (None without GAC) and `(batch, num_patches, D·k)`.

        With a frozen tower these can be computed once per image and passed to `forward` as `vision_global_tokens`
        and `vision_patch_features` instead of `pixel_values` (see `ifas.train.vision_cache`)."""
        outputs = self.vision_tower(pixel_values, output_hidden_states=True, return_dict=True)
        hidden_states = outputs.hidden_states
        layers = self.config.vision_feature_layer
        layers = [layers] if isinstance(layers, int) else layers
        patch_features = torch.cat([self._patch_tokens(hidden_states[i]) for i in layers], dim=-1)
        global_tokens = None
        if self.gac is not None:
            global_tokens = torch.stack([self._global_token(hidden_states[i]) for i in self.config.tapped_layers], 1)
        return global_tokens, patch_features

    def connect(self, global_tokens: torch.Tensor | None, patch_features: torch.Tensor) -> torch.Tensor:
        """Visual tokens for the LLM from the tower's outputs (`encode_images`): projector and/or GAC tokens."""
        tokens = []
        if not (self.config.use_gac and self.config.gac_mode == "replace"):
            tokens.append(self.multi_modal_projector(patch_features))
        if self.gac is not None:
            if global_tokens is None:
                raise ValueError("this model has a GAC: pass vision_global_tokens with vision_patch_features")
            tokens.append(self.gac(global_tokens, patch_features))
        return torch.cat(tokens, dim=1)

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Visual tokens for the LLM, shape `(batch, config.num_image_tokens, text_hidden)`."""
        return self.connect(*self.encode_images(pixel_values))

    def get_placeholder_mask(self, input_ids: torch.LongTensor, image_features: torch.Tensor) -> torch.Tensor:
        """Boolean mask of the `<image>` placeholders; raises when their count differs from the visual tokens."""
        mask = input_ids == self.config.image_token_id
        n_tokens, n_features = int(mask.sum()), image_features.shape[0] * image_features.shape[1]
        if n_tokens != n_features:
            raise ValueError(
                f"Image features and image tokens do not match, tokens: {n_tokens}, features: {n_features} "
                f"({image_features.shape[0]} image(s) x {image_features.shape[1]} visual tokens). Each image needs "
                f"exactly {self.config.num_image_tokens} '<image>' tokens: build inputs with IFASProcessor and never "
                "truncate them."
            )
        return mask

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        vision_global_tokens: torch.Tensor | None = None,
        vision_patch_features: torch.Tensor | None = None,
        **kwargs,
    ):
        """`vision_global_tokens` / `vision_patch_features`: precomputed `encode_images` outputs, in place of
        `pixel_values` (a frozen tower's features cached once per image)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds")
        image_features = None
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
            has_images = pixel_values is not None or vision_patch_features is not None
            if has_images and (input_ids == self.config.image_token_id).any():
                vision_dtype = next(self.vision_tower.parameters()).dtype
                if pixel_values is not None:
                    image_features = self.get_image_features(pixel_values.to(vision_dtype))
                else:
                    global_tokens = None if vision_global_tokens is None else vision_global_tokens.to(vision_dtype)
                    image_features = self.connect(global_tokens, vision_patch_features.to(vision_dtype))
                image_features = image_features.to(inputs_embeds.device, inputs_embeds.dtype)
                mask = self.get_placeholder_mask(input_ids, image_features).unsqueeze(-1)
                inputs_embeds = inputs_embeds.masked_scatter(mask, image_features)
        outputs = self.language_model(
            attention_mask=attention_mask, position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs
        )
        outputs["image_hidden_states"] = image_features
        return outputs


class IFASForConditionalGeneration(IFASPreTrainedModel, GenerationMixin):
    """I-FAS: answers "Is this photo of a real person?" with "Yes"/"No", then an explanation.

    Example:

    ```python
    >>> from transformers import AutoModelForImageTextToText, AutoProcessor
    >>> model = AutoModelForImageTextToText.from_pretrained("path/to/ifas", trust_remote_code=True)  # doctest: +SKIP
    >>> processor = AutoProcessor.from_pretrained("path/to/ifas", trust_remote_code=True)  # doctest: +SKIP
    >>> p_live = model.score(processor, ["face.jpg"])            # one forward pass, no generation  # doctest: +SKIP
    >>> model.judge(processor, ["face.jpg"])[0]["explanation"]    # judgment, P(live), explanation  # doctest: +SKIP
    ```
    """

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: IFASConfig):
        super().__init__(config)
        self.model = IFASModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.lm_head = value

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.get_image_features(pixel_values)

    def enable_input_require_grads(self) -> None:
        """Make the LLM's input embeddings' output require grad (PEFT + gradient checkpointing on a frozen LLM need
        it); the vision tower's patch embedding only while some tower weight trains. The transformers default hooks
        every sub-model's embeddings, so backward (and reentrant recomputation) would run through a frozen tower."""

        def make_inputs_require_grads(module, input, output):
            output.requires_grad_(True)

        modules = [self.get_input_embeddings()]
        tower = self.model.vision_tower
        if any(p.requires_grad for p in tower.parameters()):
            modules.append(tower.get_input_embeddings())
        self._require_grads_hooks = [module.register_forward_hook(make_inputs_require_grads) for module in modules]
        self._require_grads_hook = self._require_grads_hooks[0]

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        vision_global_tokens: torch.Tensor | None = None,
        vision_patch_features: torch.Tensor | None = None,
        **kwargs,
    ) -> IFASCausalLMOutputWithPast:
        outputs = self.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            vision_global_tokens=vision_global_tokens,
            vision_patch_features=vision_patch_features,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        )
        hidden_states = outputs["last_hidden_state"]
        if isinstance(logits_to_keep, int):
            hidden_states = hidden_states[:, -logits_to_keep:] if logits_to_keep > 0 else hidden_states
        else:
            hidden_states = hidden_states[:, logits_to_keep]
        logits = self.lm_head(hidden_states)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs
            )
        extras = {key: value for key, value in outputs.items() if key != "last_hidden_state"}
        return IFASCausalLMOutputWithPast(loss=loss, logits=logits, **extras)

    def generate(self, *args, **kwargs):
        """`GenerationMixin.generate`, plus: once `config.threshold` is calibrated, a generated Yes/No judgment
        follows the threshold (so `pipeline("image-text-to-text")` decides like `judge`, `config.test_time_mirror`
        included). `judgment_decided=True` (used by `judge`, whose prompt already ends with the decided word) leaves
        the continuation untouched.
        `contradiction_bans` (`contradiction_bans(processor)`; `judge` and the package's pipeline pass it): the
        explanation after a judgment word may not write what contradicts it (`ContradictionBanLogitsProcessor`).
        A prompt that with `max_new_tokens` exceeds the language model's context is refused, as in `judge`."""
        judgment_decided = kwargs.pop("judgment_decided", False)
        bans = kwargs.pop("contradiction_bans", None)
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        pixels = kwargs.get("pixel_values")
        self._require_image(input_ids, pixels if pixels is not None else kwargs.get("vision_patch_features"),
                            kwargs.get("inputs_embeds"))
        if input_ids is not None:
            length, new = input_ids.shape[1], int(kwargs.get("max_new_tokens") or 0)
            check_prompt_length(length + new, self._context_limit(),
                                f"the prompt takes {length} tokens (visual tokens included) and {new} to generate")
        added = []
        if (self.config.threshold is not None and self.config.judgment_token_ids and input_ids is not None
                and not judgment_decided):
            live_id, spoof_id = self.judgment_token_ids()
            mirrored = (self.mirrored_margin(input_ids, pixels, kwargs.get("attention_mask"))
                        if self.config.test_time_mirror else None)
            added.append(JudgmentThresholdLogitsProcessor(live_id, spoof_id, float(self.config.threshold),
                                                          input_ids.shape[1], mirrored))
        if bans and input_ids is not None:
            judgment_position = input_ids.shape[1] - 1 if judgment_decided else input_ids.shape[1]
            added.append(ContradictionBanLogitsProcessor(bans, judgment_position))
        if added:
            kwargs["logits_processor"] = LogitsProcessorList([*(kwargs.pop("logits_processor", None) or []), *added])
        return super().generate(*args, **kwargs)

    def contradiction_bans(self, processor) -> dict[int, list[list[int]]]:
        """Per judgment token id, the token sequences an explanation after it may not write: the other side's
        `config.contradicting_phrases` (`processor.phrase_token_ids`) and the other judgment word (no "No. Yes.").

        >>> bans = model.contradiction_bans(processor)  # doctest: +SKIP
        >>> sorted(bans) == sorted(model.judgment_token_ids())  # doctest: +SKIP
        True
        """
        live_id, spoof_id = self.judgment_token_ids()
        live_word, spoof_word = self.config.judgment_words
        phrases = self.config.contradicting_phrases

        def word_ids(word: str) -> list[list[int]]:
            return [processor.tokenizer(text, add_special_tokens=False)["input_ids"] for text in (word, " " + word)]

        return {live_id: processor.phrase_token_ids(phrases["live"]) + word_ids(spoof_word),
                spoof_id: processor.phrase_token_ids(phrases["spoof"]) + word_ids(live_word)}

    def _require_image(self, input_ids, pixel_values, inputs_embeds=None) -> None:
        """Refuse to answer without an image (`pixel_values`, or precomputed vision features in their place): I-FAS
        judges a face image, never text alone."""
        if inputs_embeds is not None and input_ids is None:
            return  # embeddings built by the caller (the image already merged in)
        if pixel_values is None or input_ids is None or not bool((input_ids == self.config.image_token_id).any()):
            raise ValueError(
                "no image in the input: I-FAS answers only about an image (pixel_values and '<image>' tokens are "
                "required; in a chat, add an {'type': 'image', 'image': ...} block to the user message)"
            )

    def _context_limit(self) -> int | None:
        return getattr(self.config.text_config, "max_position_embeddings", None)

    def judgment_token_ids(self) -> tuple[int, int]:
        """(live_id, spoof_id) of the judgment words; set from the tokenizer by the processor-aware builders."""
        ids = self.config.judgment_token_ids
        if not ids or len(ids) != 2:
            raise ValueError(
                "config.judgment_token_ids is not set: call processor.judgment_token_ids() and store it in "
                "model.config.judgment_token_ids (the builders in ifas/model_builders.py do this)"
            )
        return int(ids[0]), int(ids[1])

    @torch.no_grad()
    def judgment_margin(self, input_ids, pixel_values=None, attention_mask=None, **vision_features) -> torch.Tensor:
        """logit(live word) - logit(spoof word) at the answer position (float32), one forward pass over
        left-padded prompts ending there; P(live) = sigmoid(margin). `vision_features`: `vision_features()`'s
        precomputed tower outputs in place of `pixel_values`. With `config.test_time_mirror`, the mean of that
        margin and the margin of the horizontally flipped `pixel_values` (needed then, even beside features)."""
        if attention_mask is not None and not bool(attention_mask[:, -1].all()):
            raise ValueError("score_inputs needs left-padded prompts (the last position of every row must be real)")
        self._require_image(input_ids, pixel_values if pixel_values is not None
                            else vision_features.get("vision_patch_features"))
        margin = self._answer_margin(input_ids, None if vision_features else pixel_values, attention_mask,
                                     **vision_features)
        if self.config.test_time_mirror:
            margin = (margin + self.mirrored_margin(input_ids, pixel_values, attention_mask)) / 2
        return margin

    @torch.no_grad()
    def mirrored_margin(self, input_ids, pixel_values, attention_mask=None) -> torch.Tensor:
        """The Yes/No margin of the horizontally flipped images (`config.test_time_mirror`)."""
        if pixel_values is None:
            raise ValueError("config.test_time_mirror needs pixel_values to flip, not only precomputed features")
        return self._answer_margin(input_ids, pixel_values.flip(-1), attention_mask)

    def _answer_margin(self, input_ids, pixel_values, attention_mask, **vision_features) -> torch.Tensor:
        logits = self(
            input_ids=input_ids, pixel_values=pixel_values, attention_mask=attention_mask, logits_to_keep=1,
            use_cache=False, **vision_features,
        ).logits[:, -1]
        live_id, spoof_id = self.judgment_token_ids()
        return logits[:, live_id].float() - logits[:, spoof_id].float()

    @torch.no_grad()
    def vision_features(self, pixel_values: torch.Tensor) -> dict:
        """The tower's outputs for `pixel_values` as `forward`'s `vision_global_tokens` / `vision_patch_features`:
        `judge` runs the tower once per image for the judgment, the explanation and the heat maps."""
        vision_dtype = next(self.model.vision_tower.parameters()).dtype
        global_tokens, patch_features = self.model.encode_images(pixel_values.to(vision_dtype))
        return {"vision_global_tokens": global_tokens, "vision_patch_features": patch_features}

    @torch.no_grad()
    def score_inputs(self, input_ids, pixel_values, attention_mask=None) -> torch.Tensor:
        """P(live) (float64, unsaturated: `p_live_from_margin`) from one forward pass over left-padded prompts
        ending at the answer position."""
        return p_live_from_margin(self.judgment_margin(input_ids, pixel_values, attention_mask))

    def decision_threshold(self) -> float:
        """The calibrated operating threshold on P(live), or 0.5 while uncalibrated."""
        return 0.5 if self.config.threshold is None else float(self.config.threshold)

    def score(
        self, processor, images, question: str | None = None, batch_size: int = 8, strict: bool = True,
        crop_faces: bool = True, return_margin: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """P(live) for each image (paths, bytes or PIL images), float64.

        With the processor's `face_crop`, each image is first cropped to its largest face (`crop_faces=False`: the
        images are face crops already). An unreadable image or one without a face raises `ValueError` naming it when
        `strict`, else scores NaN, which is never at or above a threshold: never live. `return_margin=True` also returns the Yes/No
        logit margins (P(live) = sigmoid(margin); NaN where no face), for users who calibrate themselves.

        >>> p_live = model.score(processor, ["face.jpg", pil_image])  # doctest: +SKIP
        >>> p_live, margin = model.score(processor, ["face.jpg"], return_margin=True)  # doctest: +SKIP
        """
        images, batch_size = as_image_list(images), check_batch_size(batch_size)
        check_checkpoint(self, processor)
        check_question(processor, question, self._context_limit())
        margins = []
        for start in range(0, len(images), batch_size):
            faces = processor.detect_faces(images[start : start + batch_size], strict, crop_faces)
            margin = torch.full((len(faces),), float("nan"))
            found = [i for i, face in enumerate(faces) if face.image is not None]
            if found:
                inputs = processor.prepare_inputs([faces[i].image for i in found], question=question, crop_faces=False)
                inputs = inputs.to(self.device)
                margin[found] = self.judgment_margin(inputs["input_ids"], inputs["pixel_values"],
                                                     inputs["attention_mask"]).cpu()
            margins.append(margin)
        margin = torch.cat(margins) if margins else torch.empty(0)
        p_live = p_live_from_margin(margin)
        return (p_live, margin) if return_margin else p_live

    @torch.no_grad()
    def judge(
        self, processor, images, question: str | None = None, max_new_tokens: int = 48, batch_size: int = 8,
        strict: bool = False, crop_faces: bool = True, heatmap: bool = False, consistent: bool = True,
        **generate_kwargs,
    ) -> list[dict]:
        """Judgment, P(live), explanation and face box per image.

        The judgment is P(live) >= `decision_threshold()`; the explanation is generated after that judgment
        word and may not write `config.contradicting_phrases` of the other side (no "Live face" after "No"), so
        the text explains the decision that was made (`consistent=False` decodes without that constraint). With the processor's `face_crop` the model
        sees the largest face (``face_box`` in the image's pixels, ``num_faces`` found); an image without a face
        gets ``error`` "no face found", an unreadable one the decoding error naming it, both with ``p_live`` None and
        ``is_live`` False (a ValueError naming the input when `strict`). ``face_box`` and ``num_faces`` are None when no face crop is applied. ``margin`` is the Yes/No
        logit margin (P(live) = sigmoid(margin)).

        `heatmap=True` adds ``heatmap`` (from the Yes/No margin) and ``explanation_heatmap`` (from the cue words),
        rows x cols arrays in [0, 1] over ``heatmap_box``, the square of the input the model saw (`heatmap_ifas`).

        >>> model.judge(processor, ["face.jpg"])[0]  # doctest: +SKIP
        {'judgment': 'No', 'is_live': False, 'p_live': 0.03, 'margin': -3.48,
         'explanation': 'The face is printed on paper ...',
         'face_box': [181.2, 58.9, 268.4, 172.0], 'num_faces': 1, 'error': None}
        """
        images, batch_size = as_image_list(images), check_batch_size(batch_size)
        check_checkpoint(self, processor)
        check_question(processor, question, self._context_limit(), reserved=1 + max_new_tokens)
        threshold = self.decision_threshold()
        results = []
        for start in range(0, len(images), batch_size):
            faces = processor.detect_faces(images[start : start + batch_size], strict, crop_faces)
            found = [face for face in faces if face.image is not None]
            answers = iter(self._judge_crops(processor, [face.image for face in found], question, threshold,
                                             max_new_tokens, heatmap, consistent, **generate_kwargs) if found else [])
            for face in faces:
                box = None if face.box is None else [float(v) for v in face.box]
                if face.image is None:
                    answer = {"judgment": None, "is_live": False, "p_live": None, "margin": None, "explanation": ""}
                else:
                    answer = next(answers)
                    if heatmap:
                        face_crop = processor.face_crop if face.box is not None else None
                        answer["heatmap_box"] = crop_box(face.box, face_crop, face.image.size)
                results.append({**answer, "face_box": box, "num_faces": face.num_faces, "error": face.error})
        return results

    def _judge_crops(self, processor, crops, question, threshold, max_new_tokens, heatmap=False, consistent=True,
                     **generate_kwargs) -> list[dict]:
        """`judge`'s answers for images that are the model's input already (face crops, or whole images)."""
        live_id, spoof_id = self.judgment_token_ids()
        live_word, spoof_word = self.config.judgment_words
        inputs = processor.prepare_inputs(crops, question=question, crop_faces=False).to(self.device)
        vision = self.vision_features(inputs["pixel_values"])
        margin = self.judgment_margin(inputs["input_ids"], inputs["pixel_values"], inputs["attention_mask"], **vision)
        p_live = p_live_from_margin(margin)
        is_live = p_live >= threshold
        judgment_ids = torch.where(is_live, live_id, spoof_id).to(inputs["input_ids"].dtype).unsqueeze(1)
        generated = self.generate(
            input_ids=torch.cat([inputs["input_ids"], judgment_ids], dim=1),
            attention_mask=torch.cat([inputs["attention_mask"], torch.ones_like(judgment_ids)], dim=1),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            judgment_decided=True,
            contradiction_bans=self.contradiction_bans(processor) if consistent else None,
            **vision,
            **generate_kwargs,
        )
        new_tokens = generated[:, inputs["input_ids"].shape[1] + 1 :]
        texts = processor.batch_decode(new_tokens, skip_special_tokens=True)
        maps = answer_heatmaps(self, processor, inputs, is_live, new_tokens, vision) if heatmap else [{}] * len(texts)
        return [
            {
                "judgment": live_word if live else spoof_word,
                "is_live": bool(live),
                "p_live": float(score),
                "margin": float(logit_margin),
                "explanation": text.lstrip(" .:,").strip(),
                **answer_maps,
            }
            for live, score, logit_margin, text, answer_maps in zip(is_live.tolist(), p_live.tolist(), margin.tolist(),
                                                                   texts, maps)
        ]


IFASForConditionalGeneration.register_for_auto_class("AutoModelForImageTextToText")

__all__ = ["IFASPreTrainedModel", "IFASModel", "IFASForConditionalGeneration"]
