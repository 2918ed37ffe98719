"""Build I-FAS models and processors: random from configs, tiny for tests, or from pretrained backbones.

Example:
    >>> from ifas.model_builders import tiny_ifas, save_checkpoint
    >>> model, processor = tiny_ifas("dinov2")
    >>> model.config.judgment_token_ids == processor.judgment_token_ids()
    True
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from PIL import Image
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    ViTImageProcessorPil,
)

from configuration_ifas import NO_CLS_VISION_MODEL_TYPES, IFASConfig
from faces_ifas import DEFAULT_FACE_CROP
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor

CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")
IMAGE_TOKEN = "<image>"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
TOWER_STATS = {"dinov2": (IMAGENET_MEAN, IMAGENET_STD), "vit": (IMAGENET_MEAN, IMAGENET_STD),
               "clip_vision_model": (CLIP_MEAN, CLIP_STD), "siglip_vision_model": ((0.5,) * 3, (0.5,) * 3)}

TINY_CORPUS = (
    "Is this photo of a real person? Yes. No. Yes, the face is live. No, the face is a spoof. "
    "The face is printed on paper with halftone dots, visible paper edges and flat colours. "
    "The face is shown on a screen: moire patterns, glare, a bezel and a colour shift. "
    "A paper mask with cut-out eye holes and flat shading covers the face. "
    "Natural skin texture, real depth and specular highlights on the skin show a live person. "
)
TINY_TOWERS = {
    "dinov2": dict(model_type="dinov2", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=64, patch_size=4, image_size=16, layer_norm_eps=1e-6),
    "vit": dict(model_type="vit", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, patch_size=4, image_size=16),
    "clip": dict(model_type="clip_vision_model", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=64, patch_size=4, image_size=16, projection_dim=32),
    "siglip": dict(model_type="siglip_vision_model", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=64, patch_size=4, image_size=16),
}


def train_tiny_tokenizer(vocab_size: int = 320, corpus: str = TINY_CORPUS) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained in-process (milliseconds) with ChatML and `<image>` special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<pad>", *CHATML_TOKENS, IMAGE_TOKEN]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator([corpus] * 20 + ["Yes\n", "No\n", "assistant\nYes", "assistant\nNo"] * 50, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<|im_end|>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )


def build_image_processor(vision_config, size: int, mean=None, std=None) -> ViTImageProcessorPil:
    """A fixed-size (`size` x `size`) resize + normalise image processor (PIL backend)."""
    default_mean, default_std = TOWER_STATS.get(vision_config.model_type, (IMAGENET_MEAN, IMAGENET_STD))
    return ViTImageProcessorPil(
        size={"height": size, "width": size}, image_mean=list(mean or default_mean), image_std=list(std or default_std)
    )


def build_processor(config: IFASConfig, tokenizer, image_processor=None, chat_template=None,
                    image_token: str = IMAGE_TOKEN, face_crop: dict | None = None) -> IFASProcessor:
    """An `IFASProcessor` matching `config` (cropping faces by `face_crop`, `faces_ifas`); also stores the image and
    judgment token ids into `config`."""
    processor = IFASProcessor(
        image_processor=image_processor or build_image_processor(config.vision_config, config.image_size),
        tokenizer=tokenizer,
        chat_template=chat_template,
        image_token=image_token,
        num_image_tokens=config.num_image_tokens,
        question=config.question,
        judgment_words=config.judgment_words,
        face_crop=face_crop,
    )
    config.image_token_id = processor.image_token_id
    config.judgment_token_ids = processor.judgment_token_ids()
    return processor


def sync_generation_config(model: IFASForConditionalGeneration, processor: IFASProcessor) -> None:
    """Stop generation at the chat template's end-of-turn token (or EOS), pad with the pad token, and never repeat
    a 3-gram (small LLMs loop on "paper paper paper ..." otherwise)."""
    tokenizer = processor.tokenizer
    end_of_turn = processor.end_of_turn_token() or tokenizer.eos_token
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids(end_of_turn)
    model.generation_config.no_repeat_ngram_size = 3
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.pad_token_id = tokenizer.pad_token_id


def tiny_config(tower: str = "dinov2", **overrides) -> IFASConfig:
    """A tiny I-FAS config (16 px images, 2-layer towers, 2-layer Qwen2 LM) for tests and smoke runs."""
    vision = dict(TINY_TOWERS[tower])
    text = dict(model_type="qwen2", vocab_size=320, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False)
    settings = dict(gac_num_queries=4, vision_feature_select_strategy="full" if tower == "siglip" else "default",
                    gac_global_pool="mean" if tower == "siglip" else "cls")
    return IFASConfig(vision_config=vision, text_config=text, **{**settings, **overrides})


def tiny_ifas(tower: str = "dinov2", seed: int = 0, **overrides) -> tuple[IFASForConditionalGeneration, IFASProcessor]:
    """A tiny random I-FAS and its processor, built offline in well under a second."""
    return tiny_model(tiny_config(tower, **overrides), train_tiny_tokenizer(), seed)


def tiny_model(config: IFASConfig, tokenizer, seed: int = 0) -> tuple[IFASForConditionalGeneration, IFASProcessor]:
    """A random I-FAS of `config` (its vocabulary sized to `tokenizer`) and its processor, in eval mode."""
    config.text_config.vocab_size = len(tokenizer)
    processor = build_processor(config, tokenizer)
    torch.manual_seed(seed)
    model = IFASForConditionalGeneration(config)
    sync_generation_config(model, processor)
    return model.eval(), processor


def _vision_prefix(tower_keys: list[str], source: dict, name_or_path: str) -> str:
    """The prefix under which a composite checkpoint (CLIPModel, SiglipModel, ...) stores the tower's weights."""
    first = tower_keys[0]
    for prefix in sorted({key[: -len(first)] for key in source if key.endswith(first)}, key=len):
        if all(prefix + key in source for key in tower_keys):
            return prefix
    raise ValueError(f"{name_or_path}: the checkpoint holds no complete vision tower ({len(tower_keys)} tensors)")


def _load_vision_tower(name_or_path: str):
    config = AutoConfig.from_pretrained(name_or_path)
    vision_config = getattr(config, "vision_config", config)
    if vision_config is config:
        return vision_config, AutoModel.from_pretrained(name_or_path)
    full = AutoModel.from_pretrained(name_or_path)  # e.g. CLIPModel / SiglipModel: keep the vision half
    tower = AutoModel.from_config(vision_config)
    source = full.state_dict()
    keys = list(tower.state_dict())
    prefix = _vision_prefix(keys, source, name_or_path)
    tower.load_state_dict({key: source[prefix + key] for key in keys})
    return vision_config, tower


def from_backbones(
    vision_name_or_path: str, text_name_or_path: str, image_size: int | None = None,
    face_crop: dict | None = DEFAULT_FACE_CROP, **config_overrides
) -> tuple[IFASForConditionalGeneration, IFASProcessor]:
    """An I-FAS whose vision tower and LLM come from pretrained checkpoints (names or local paths).

    Adds `<image>` (and ChatML tokens when missing) to the tokenizer, resizes the embeddings (the added ids go to
    `config.new_token_ids`, whose rows LoRA trains), and initialises the projector and GAC randomly. Its processor
    crops faces as the dataset builders do (`face_crop`, MTCNN, square x1.3, 224 px), since it is trained on their
    crops; None feeds whole images.

    >>> model, processor = from_backbones(  # doctest: +SKIP
    ...     "facebook/dinov2-small", "HuggingFaceTB/SmolLM2-135M-Instruct", 224)
    """
    vision_config, tower = _load_vision_tower(vision_name_or_path)
    if image_size is not None and image_size != vision_config.image_size and vision_config.model_type != "dinov2":
        raise ValueError(
            f"{vision_name_or_path}: image_size {image_size} differs from the tower's {vision_config.image_size}; "
            "only DINOv2 interpolates its position embeddings"
        )
    tokenizer = AutoTokenizer.from_pretrained(text_name_or_path)
    new_tokens = [token for token in (*CHATML_TOKENS, IMAGE_TOKEN) if token not in tokenizer.get_vocab()]
    specials = [token for token in CHATML_TOKENS if token in new_tokens] + [IMAGE_TOKEN]
    tokenizer.add_special_tokens({"additional_special_tokens": specials}, replace_extra_special_tokens=False)
    tokenizer.image_token = IMAGE_TOKEN
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    language_model = AutoModelForCausalLM.from_pretrained(text_name_or_path)
    language_model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    config = IFASConfig(vision_config=vision_config.to_dict(), text_config=language_model.config.to_dict(),
                        image_size=image_size, new_token_ids=tokenizer.convert_tokens_to_ids(new_tokens),
                        **config_overrides)
    try:
        image_processor = AutoImageProcessor.from_pretrained(vision_name_or_path)
        mean, std = image_processor.image_mean, image_processor.image_std
    except (OSError, ValueError, AttributeError):
        mean = std = None
    image_processor = build_image_processor(config.vision_config, config.image_size, mean, std)
    processor = build_processor(config, tokenizer, image_processor, face_crop=face_crop)
    model = IFASForConditionalGeneration(config)
    model.model.vision_tower.load_state_dict(tower.state_dict())
    model.model.language_model.load_state_dict(language_model.model.state_dict())
    model.lm_head.load_state_dict(language_model.lm_head.state_dict())
    sync_generation_config(model, processor)
    return model.eval(), processor


# A LlavaForConditionalGeneration file (Hub names, as `save_pretrained` still writes them) -> I-FAS names; files in
# the transformers 5 layout (`model.language_model.`, `model.vision_tower.`, `lm_head.`) already match.
LLAVA_KEY_MAPPING = {
    r"^language_model\.model\.": "model.language_model.",
    r"^language_model\.lm_head\.": "lm_head.",
    r"^vision_tower\.(vision_model\.)?": "model.vision_tower.",
    r"^multi_modal_projector\.": "model.multi_modal_projector.",
}


def _check_loading_info(info: dict, name_or_path: str) -> None:
    """Only GAC may be missing from a converted LLaVA checkpoint; nothing may be unexpected or reshaped."""
    missing = [key for key in info["missing_keys"] if not key.startswith("model.gac.")]
    problems = {"missing": missing, "unexpected": list(info["unexpected_keys"]),
                "mismatched": [str(item) for item in info["mismatched_keys"]]}
    problems = {kind: keys for kind, keys in problems.items() if keys}
    if problems:
        raise ValueError(f"{name_or_path}: the LLaVA weights do not map onto I-FAS: " + "; ".join(
            f"{len(keys)} {kind} (e.g. {keys[:3]})" for kind, keys in problems.items()))


def source_chat_template(source_processor, name_or_path: str, chat_template: str | None = None) -> str:
    """`chat_template` when given, else the source processor's (or its tokenizer's) template; a source without one
    is an error (I-FAS would otherwise fall back to ChatML, which a Llama or Mistral LLM was never trained on)."""
    template = chat_template or source_processor.chat_template or getattr(source_processor.tokenizer, "chat_template",
                                                                           None)
    if not template:
        raise ValueError(f"{name_or_path}: the checkpoint has no chat template (neither its processor nor its "
                         "tokenizer holds one); pass the template the model was trained with: "
                         "from_pretrained_vlm(..., chat_template=TEMPLATE) or train_sft.py --vlm_chat_template_path FILE")
    return template


def from_pretrained_vlm(
    name_or_path: str, dtype: torch.dtype = torch.float32, chat_template: str | None = None, **config_overrides
) -> tuple[IFASForConditionalGeneration, IFASProcessor]:
    """An I-FAS converted from a pretrained `LlavaForConditionalGeneration` (llava-hf/llava-1.5-7b-hf, -13b,
    bakLlava, llava-interleave-qwen): an already aligned MLLM, as the paper fine-tunes.

    Vision tower, projector, LLM and LM head keep their pretrained weights; the tokenizer, chat template, image
    processor (resize, crop, normalisation), `vision_feature_layer`, select strategy and projector activation come
    from the source; `chat_template` replaces the source's template (required when the source has none). GAC is new (random): it pools each tapped layer's CLS token, or the mean of its patch tokens
    for towers without CLS (SigLIP; a deviation from the paper). With `use_gac=False` the model computes exactly
    what the source computes. Weights load straight from the source's safetensors onto the model (meta-device
    construction, memory-mapped reads; partitioned under DeepSpeed ZeRO-3 when it is enabled), one copy in memory.
    `config_overrides` go to `IFASConfig` (`use_gac`, `gac_num_queries`, `question`, ...).

    >>> model, processor = from_pretrained_vlm("llava-hf/llava-1.5-7b-hf", dtype=torch.bfloat16, gac_num_queries=32)  # doctest: +SKIP
    >>> save_checkpoint(model, processor, "outputs/ifas-llava-1.5-7b")  # doctest: +SKIP
    """
    model_type = PretrainedConfig.get_config_dict(name_or_path)[0].get("model_type")
    if model_type != "llava":
        raise ValueError(f"{name_or_path}: model_type {model_type!r}, expected a 'llava' checkpoint "
                         "(LlavaForConditionalGeneration)")
    source = AutoConfig.from_pretrained(name_or_path)
    if not getattr(source, "multimodal_projector_bias", True):
        raise ValueError(f"{name_or_path}: a projector without bias is not supported (I-FAS's has biases)")
    vision = source.vision_config
    has_cls = vision.model_type not in NO_CLS_VISION_MODEL_TYPES
    if not has_cls and source.vision_feature_select_strategy == "default":
        raise ValueError(f"{name_or_path}: strategy 'default' drops the first patch of a {vision.model_type} tower "
                         "(it has no CLS token); I-FAS keeps every patch of such towers")
    settings = dict(
        vision_feature_layer=source.vision_feature_layer,
        vision_feature_select_strategy=source.vision_feature_select_strategy,
        projector_hidden_act=source.projector_hidden_act,
        image_token_id=source.image_token_id,
        tie_word_embeddings=source.tie_word_embeddings,
        gac_global_pool="cls" if has_cls else "mean",
    )
    config = IFASConfig(vision_config=vision.to_dict(), text_config=source.text_config.to_dict(),
                        **{**settings, **config_overrides})
    source_processor = AutoProcessor.from_pretrained(name_or_path)
    processor = build_processor(config, source_processor.tokenizer, source_processor.image_processor,
                                chat_template=source_chat_template(source_processor, name_or_path, chat_template),
                                image_token=source_processor.image_token)
    if processor.image_token_id != source.image_token_id:
        raise ValueError(f"{name_or_path}: the tokenizer's {processor.image_token!r} is id {processor.image_token_id}, "
                         f"the config's image_token_id is {source.image_token_id}")
    pixels = processor(images=[Image.new("RGB", (2 * config.image_size, config.image_size))])["pixel_values"][0]
    if tuple(pixels.shape[-2:]) != (config.image_size, config.image_size):
        raise ValueError(f"{name_or_path}: the image processor makes {tuple(pixels.shape[-2:])} pixels, the vision "
                         f"tower expects {config.image_size} x {config.image_size}")
    model, info = IFASForConditionalGeneration.from_pretrained(
        name_or_path, config=config, key_mapping=LLAVA_KEY_MAPPING, dtype=dtype, output_loading_info=True
    )
    _check_loading_info(info, name_or_path)
    # save_pretrained would otherwise write the weights back under LLaVA's names (transformers keeps the mapping a
    # model was loaded with to revert it); an I-FAS checkpoint keeps I-FAS names, as a freshly built model does.
    model._weight_conversions = None
    sync_generation_config(model, processor)
    return model.eval(), processor


def save_checkpoint(model: IFASForConditionalGeneration, processor: IFASProcessor, out_dir: str) -> str:
    """Write a complete checkpoint folder: safetensors weights, config, processor, tokenizer and remote code."""
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
