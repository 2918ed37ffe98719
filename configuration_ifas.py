"""I-FAS configuration: a vision tower, a causal LM, the MLP projector and the Globally Aware Connector (GAC)."""

from transformers import AutoConfig, PretrainedConfig

try:
    from .validation_ifas import check_threshold
except ImportError:  # imported from the installed project rather than from a checkpoint's remote code
    from validation_ifas import check_threshold

DEFAULT_QUESTION = "Is this photo of a real person?"
DEFAULT_JUDGMENT_WORDS = ("Yes", "No")
# What an explanation may not write after each judgment (`judge` decodes under this constraint): after a live
# judgment, the names of the attack families; after a spoof judgment, claims that the face is genuine (the SCF
# keyword dictionary's live claims, `datasets_scripts/scf/keywords.py: LIVE_CLAIMS`).
DEFAULT_CONTRADICTING_PHRASES = {
    "live": ("printed photo", "screen replay", "paper mask", "3D mask", "makeup disguise", "partial cover",
             "presentation attack"),
    "spoof": ("real person", "real human", "real face", "live person", "live face", "living person", "live subject",
              "genuine", "bona fide", "bonafide", "authentic", "actual person", "not a spoof", "not fake", "no spoof",
              "no sign of spoofing", "no sign of an attack"),
}
NO_CLS_VISION_MODEL_TYPES = ("siglip_vision_model", "siglip2_vision_model")
AUTO_MAP = {
    "AutoConfig": "configuration_ifas.IFASConfig",
    "AutoModel": "modeling_ifas.IFASForConditionalGeneration",
    "AutoModelForImageTextToText": "modeling_ifas.IFASForConditionalGeneration",
    "AutoProcessor": "processing_ifas.IFASProcessor",
}
# `pipeline("image-text-to-text", model=CHECKPOINT, trust_remote_code=True)` builds I-FAS's strict-decoding pipeline
CUSTOM_PIPELINES = {
    "image-text-to-text": {"impl": "processing_ifas.IFASImageTextToTextPipeline",
                           "pt": ["AutoModelForImageTextToText"], "type": "multimodal"},
}


def _sub_config(config, default_model_type: str, **defaults) -> PretrainedConfig:
    """Turn a dict (with optional `model_type`) or a config into a config object."""
    if isinstance(config, PretrainedConfig):
        return config
    config = dict(config or {})
    model_type = config.pop("model_type", default_model_type)
    return AutoConfig.for_model(model_type, **{**defaults, **config})


class IFASConfig(PretrainedConfig):
    r"""Configuration of an [`IFASForConditionalGeneration`] (I-FAS, Zhang et al., AAAI 2025).

    Args:
        vision_config (`dict` or `PretrainedConfig`, *optional*):
            Any Hugging Face vision encoder returning per-layer hidden states (CLIP vision, DINOv2, ViT, SigLIP).
            Defaults to a DINOv2 ViT-S/14 (518 px position embeddings).
        text_config (`dict` or `PretrainedConfig`, *optional*):
            Any causal LM config (Qwen2, Llama, ...). Defaults to a SmolLM2-135M-shaped Llama.
        image_size (`int`, *optional*):
            Input resolution; defaults to `vision_config.image_size`. May differ from it only for towers that
            interpolate their position embeddings (DINOv2), e.g. DINOv2's 518 px weights used at 224 px.
        image_token_id (`int`, *optional*, defaults to 49152):
            Id of the `<image>` placeholder token.
        vision_feature_layer (`int` or `list[int]`, *optional*, defaults to -1):
            Vision layer(s) whose patch features feed the MLP projector and GAC's cross-attention; a list is
            concatenated on channels, as in LLaVA.
        vision_feature_select_strategy (`str`, *optional*, defaults to `"default"`):
            `"default"` drops the CLS token from the patch features, `"full"` keeps every token (SigLIP has no CLS).
        projector_hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the two-layer MLP projector.
        use_gac (`bool`, *optional*, defaults to `True`):
            Whether the Globally Aware Connector adds its tokens.
        gac_layers (`list[int]`, *optional*):
            Indices into the vision tower's `hidden_states` whose global token feeds GAC; `None` = every encoder
            layer (1..L; index 0 is the embedding output, negative indices count from the last layer: `[-1]` taps
            the last layer only, `[-4, -3, -2, -1]` the last four).
        gac_num_queries (`int`, *optional*, defaults to 32):
            Number of learnable prefix queries; 0 = none (the GAC tokens are the refined global tokens alone).
        gac_num_heads (`int`, *optional*):
            Attention heads in GAC; defaults to the vision tower's.
        gac_num_blocks (`int`, *optional*, defaults to 1):
            Pre-LN blocks (self-attention, cross-attention to the patch features, MLP); the paper writes one.
        gac_mlp_ratio (`float`, *optional*, defaults to 4.0):
            MLP width over GAC width.
        gac_mode (`str`, *optional*, defaults to `"append"`):
            `"append"`: GAC tokens follow the MLP-projected patch tokens; `"replace"`: GAC tokens alone.
        gac_global_pool (`str`, *optional*, defaults to `"cls"`):
            Global token per layer: `"cls"` (token 0) or `"mean"` (mean of the patch tokens, for towers without
            a CLS token such as SigLIP — a deviation from the paper).
        judgment_words (`list[str]`, *optional*, defaults to `["Yes", "No"]`):
            The live and spoof answers; each must be a single token right after the assistant prefix.
        judgment_token_ids (`list[int]`, *optional*):
            Token ids of the judgment words, filled in by the processor-aware constructors.
        new_token_ids (`list[int]`, *optional*):
            Tokens added to the LLM's vocabulary when the checkpoint was built (`<image>`, ChatML tokens): their
            embedding rows are untrained, so LoRA trains them too (`trainable_token_indices`).
        question (`str`, *optional*, defaults to `"Is this photo of a real person?"`):
            The fixed question.
        threshold (`float`, *optional*):
            Operating threshold on P(live), set by calibration on a dev set; `None` until calibrated
            (decisions then use 0.5). Must be finite and strictly between 0 and 1 (at 0 everything would be live).
        test_time_mirror (`bool`, *optional*, defaults to `False`):
            Decide on the mean of the Yes/No margins of the face and its mirror image (`score`, `judge`, the
            pipeline's judgment; the explanation and heat maps read the face as given). One more forward per image;
            `ifas adapt` turns it on and sets the threshold with it.
        contradicting_phrases (`dict[str, list[str]]`, *optional*):
            `{"live": [...], "spoof": [...]}`: phrases `judge` never lets an explanation write after a live / spoof
            judgment (case and a leading space vary), so that the text explains the decision made; defaults to
            `DEFAULT_CONTRADICTING_PHRASES` (attack family names after "Yes", claims of a genuine face after "No").

    Example:

    ```python
    >>> from configuration_ifas import IFASConfig
    >>> config = IFASConfig(image_size=224, gac_num_queries=8)
    >>> config.vision_config.model_type, config.text_config.model_type
    ('dinov2', 'llama')
    >>> config.num_image_tokens  # 16x16 patches + 8 queries + 12 layer tokens
    276
    ```
    """

    model_type = "ifas"
    sub_configs = {"vision_config": AutoConfig, "text_config": AutoConfig}

    def __init__(
        self,
        vision_config=None,
        text_config=None,
        image_size: int | None = None,
        image_token_id: int = 49152,
        vision_feature_layer: int | list[int] = -1,
        vision_feature_select_strategy: str = "default",
        projector_hidden_act: str = "gelu",
        use_gac: bool = True,
        gac_layers: list[int] | None = None,
        gac_num_queries: int = 32,
        gac_num_heads: int | None = None,
        gac_num_blocks: int = 1,
        gac_mlp_ratio: float = 4.0,
        gac_mode: str = "append",
        gac_global_pool: str = "cls",
        judgment_words=DEFAULT_JUDGMENT_WORDS,
        judgment_token_ids: list[int] | None = None,
        new_token_ids: list[int] | None = None,
        question: str = DEFAULT_QUESTION,
        threshold: float | None = None,
        test_time_mirror: bool = False,
        contradicting_phrases: dict | None = None,
        tie_word_embeddings: bool | None = None,
        **kwargs,
    ):
        self.vision_config = _sub_config(
            vision_config, "dinov2", hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
            patch_size=14, image_size=518, layer_norm_eps=1e-6,
        )
        self.text_config = _sub_config(
            text_config, "llama", vocab_size=49153, hidden_size=576, intermediate_size=1536,
            num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
        )
        if vision_feature_select_strategy not in ("default", "full"):
            raise ValueError(f"vision_feature_select_strategy must be 'default' or 'full', got {vision_feature_select_strategy!r}")
        if gac_mode not in ("append", "replace"):
            raise ValueError(f"gac_mode must be 'append' or 'replace', got {gac_mode!r}")
        if gac_global_pool not in ("cls", "mean"):
            raise ValueError(f"gac_global_pool must be 'cls' or 'mean', got {gac_global_pool!r}")
        if gac_mode == "replace" and not use_gac:
            raise ValueError("gac_mode='replace' needs use_gac=True: the model would have no visual tokens")
        if gac_num_queries < 0:
            raise ValueError(f"gac_num_queries must be >= 0 (0: no prefix queries), got {gac_num_queries}")
        if gac_layers is not None and not gac_layers:
            raise ValueError("gac_layers must name at least one layer (None: every encoder layer)")
        if len(judgment_words) != 2:
            raise ValueError(f"judgment_words must be [live_word, spoof_word], got {judgment_words!r}")
        self.image_size = image_size or self.vision_config.image_size
        self.image_token_id = image_token_id
        self.vision_feature_layer = vision_feature_layer
        self.vision_feature_select_strategy = vision_feature_select_strategy
        self.projector_hidden_act = projector_hidden_act
        self.use_gac = use_gac
        self.gac_layers = list(gac_layers) if gac_layers is not None else None
        self.gac_num_queries = gac_num_queries
        self.gac_num_heads = gac_num_heads
        self.gac_num_blocks = gac_num_blocks
        self.gac_mlp_ratio = gac_mlp_ratio
        self.gac_mode = gac_mode
        self.gac_global_pool = gac_global_pool
        self.judgment_words = list(judgment_words)
        self.judgment_token_ids = list(judgment_token_ids) if judgment_token_ids is not None else None
        self.new_token_ids = list(new_token_ids) if new_token_ids else None
        self.question = question
        self.threshold = check_threshold(threshold)
        self.test_time_mirror = bool(test_time_mirror)
        phrases = DEFAULT_CONTRADICTING_PHRASES if contradicting_phrases is None else contradicting_phrases
        if not isinstance(phrases, dict) or set(phrases) != {"live", "spoof"} or not all(
                isinstance(phrase, str) and phrase.strip() for values in phrases.values() for phrase in values):
            raise ValueError("contradicting_phrases must be {'live': [phrases], 'spoof': [phrases]} of non-empty "
                             f"strings, got {contradicting_phrases!r}")
        self.contradicting_phrases = {key: list(values) for key, values in phrases.items()}
        if tie_word_embeddings is None:
            tie_word_embeddings = bool(getattr(self.text_config, "tie_word_embeddings", False))
        kwargs.pop("image_seq_length", None)  # always derived from the GAC and vision settings
        kwargs["auto_map"] = {**AUTO_MAP, **(kwargs.get("auto_map") or {})}
        kwargs["custom_pipelines"] = {**CUSTOM_PIPELINES, **(kwargs.get("custom_pipelines") or {})}
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)

    @property
    def tapped_layers(self) -> list[int]:
        """Indices into the vision `hidden_states` whose global token feeds GAC."""
        if self.gac_layers is not None:
            return list(self.gac_layers)
        return list(range(1, self.vision_config.num_hidden_layers + 1))

    @property
    def vision_has_cls_token(self) -> bool:
        """Whether the vision tower prepends a CLS token (CLIP, DINOv2, ViT) or not (SigLIP)."""
        return self.vision_config.model_type not in NO_CLS_VISION_MODEL_TYPES

    @property
    def num_patch_tokens(self) -> int:
        """Tokens the MLP projector produces per image (patches, plus CLS with strategy 'full' on CLS towers)."""
        side = self.image_size // self.vision_config.patch_size
        extra = 1 if self.vision_has_cls_token and self.vision_feature_select_strategy == "full" else 0
        return side * side + extra

    @property
    def num_gac_tokens(self) -> int:
        """Tokens GAC produces per image: the prefix queries plus one per tapped layer."""
        return self.gac_num_queries + len(self.tapped_layers) if self.use_gac else 0

    @property
    def image_seq_length(self) -> int:
        """LLaVA's name for `num_image_tokens`."""
        return self.num_image_tokens

    @property
    def num_image_tokens(self) -> int:
        """Visual tokens per image that the `<image>` placeholder expands to."""
        if self.use_gac and self.gac_mode == "replace":
            return self.num_gac_tokens
        return self.num_patch_tokens + self.num_gac_tokens


IFASConfig.register_for_auto_class("AutoConfig")

__all__ = ["IFASConfig", "DEFAULT_QUESTION", "DEFAULT_JUDGMENT_WORDS"]
