"""I-FAS processor: image loading and checks, `<image>` expansion, the chat template and the fixed-question prompt."""

import io
import os

import numpy as np
from PIL import Image, UnidentifiedImageError
from transformers import BatchFeature, ProcessorMixin

try:
    from .configuration_ifas import DEFAULT_JUDGMENT_WORDS, DEFAULT_QUESTION
except ImportError:  # imported from the installed project rather than from a checkpoint's remote code
    from configuration_ifas import DEFAULT_JUDGMENT_WORDS, DEFAULT_QUESTION

MAX_IMAGE_PIXELS = 50_000_000  # refuse anything larger before decoding it (a 7000 x 7000 photo still passes)

# ChatML with typed content blocks; assistant text wrapped in {% generation %} for assistant-token masks.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] }}{% endgeneration %}"
    "{% else %}{{ message['content'] }}{% endif %}"
    "{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>' }}"
    "{% elif item['type'] == 'text' %}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ item['text'] }}{% endgeneration %}"
    "{% else %}{{ item['text'] }}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"image file {os.fspath(source)!r}"
    if isinstance(source, (bytes, bytearray)):
        return f"image bytes ({len(source)} B)"
    return f"image {type(source).__name__}"


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: 16/32-bit grey is rescaled (not clipped), alpha is dropped onto black.

    >>> to_rgb(Image.new("I;16", (4, 4), 65535)).getpixel((0, 0))
    (255, 255, 255)
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        grey = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def load_image(source, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open a path, bytes or PIL image as a fully decoded RGB image, or raise `ValueError` naming the problem.

    Refuses empty, corrupt, truncated and non-image inputs, zero-size images, and images over `max_pixels`
    (checked from the header, before decoding).

    >>> load_image(Image.new("L", (8, 8))).mode
    'RGB'
    """
    what = _describe(source)
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (str, os.PathLike)):
            if not os.path.isfile(source):
                raise ValueError(f"{what}: no such file")
            with open(source, "rb") as handle:
                data = handle.read()
        elif isinstance(source, (bytes, bytearray)):
            data = bytes(source)
        elif isinstance(source, dict) and ("bytes" in source or "path" in source):  # datasets.Image storage
            return load_image(source.get("bytes") or source["path"], max_pixels)
        else:
            raise ValueError(f"{what}: expected a path, bytes or a PIL image")
        if not data:
            raise ValueError(f"{what}: empty input (0 bytes)")
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as error:
            raise ValueError(f"{what}: not an image file ({error})") from None
        except Image.DecompressionBombError as error:
            raise ValueError(f"{what}: refused, absurd pixel count ({error})") from None
        except (OSError, SyntaxError) as error:
            raise ValueError(f"{what}: corrupt or truncated image header ({error})") from None
    width, height = image.size
    if width == 0 or height == 0:
        raise ValueError(f"{what}: zero-size image ({width}x{height})")
    if width * height > max_pixels:
        raise ValueError(f"{what}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{what}: corrupt or truncated image data ({error})") from None
    return to_rgb(image)


class IFASProcessor(ProcessorMixin):
    r"""Prepares I-FAS inputs: images through the image processor, text with each `<image>` expanded to the
    model's visual tokens (patch tokens + GAC tokens), chat messages through the chat template.

    Args:
        image_processor: a PIL image processor (e.g. `ViTImageProcessorPil`) resizing to the tower's input size.
        tokenizer: the LLM tokenizer, holding the `<image>` special token.
        chat_template (`str`, *optional*): Jinja template rendering `{"type": "image"}` blocks as `<image>`;
            defaults to ChatML (`CHAT_TEMPLATE`).
        num_image_tokens (`int`): visual tokens per image (`IFASConfig.num_image_tokens`).
        image_token (`str`, *optional*, defaults to `"<image>"`): the placeholder token.
        question (`str`, *optional*): the fixed question, "Is this photo of a real person?".
        judgment_words (`list[str]`, *optional*): the live and spoof answers, `["Yes", "No"]`.

    Example:

    ```python
    >>> processor = AutoProcessor.from_pretrained("path/to/ifas", trust_remote_code=True)  # doctest: +SKIP
    >>> batch = processor.prepare_inputs(["face.jpg"])  # left-padded, ending at the answer  # doctest: +SKIP
    >>> sorted(batch.keys())  # doctest: +SKIP
    ['attention_mask', 'input_ids', 'pixel_values']
    ```
    """

    model_input_names = ["input_ids", "attention_mask", "pixel_values"]

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        chat_template=None,
        num_image_tokens: int = 1,
        image_token: str = "<image>",
        question: str = DEFAULT_QUESTION,
        judgment_words=DEFAULT_JUDGMENT_WORDS,
        **kwargs,
    ):
        self.num_image_tokens = num_image_tokens
        self.image_token = image_token
        self.question = question
        self.judgment_words = list(judgment_words)
        super().__init__(image_processor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE)
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(image_token)
        if self.image_token_id is None or self.image_token_id == self.tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {image_token!r} token: add it as a special token first")

    def __call__(self, images=None, text=None, **kwargs) -> BatchFeature:
        """Tokenize `text` (one string or a list) with every `<image>` expanded, and process `images`
        (one image, a list, or one list per text). Tokenizer kwargs (padding, padding_side, truncation, ...)
        pass through; `return_tensors` applies to both."""
        return_tensors = kwargs.pop("return_tensors", None)
        for key in ("images_kwargs", "text_kwargs", "videos_kwargs", "audio_kwargs", "common_kwargs"):
            kwargs.update(kwargs.pop(key, None) or {})
        kwargs.pop("videos", None), kwargs.pop("audio", None)
        flat_images = self._flatten_images(images)
        data = {}
        if flat_images:
            rgb = [load_image(image) for image in flat_images]
            data.update(self.image_processor(rgb, return_tensors=return_tensors))
        if text is not None:
            texts = [text] if isinstance(text, str) else list(text)
            placeholders = sum(t.count(self.image_token) for t in texts)
            if placeholders != len(flat_images):
                raise ValueError(
                    f"{placeholders} '{self.image_token}' placeholder(s) in the text but {len(flat_images)} image(s)"
                )
            expanded = [t.replace(self.image_token, self.image_token * self.num_image_tokens) for t in texts]
            tokenizer_kwargs = {k: v for k, v in kwargs.items() if k not in ("do_resize", "size", "images")}
            data.update(self.tokenizer(expanded, **tokenizer_kwargs))
        return BatchFeature(data, tensor_type=return_tensors)

    @staticmethod
    def _flatten_images(images) -> list:
        if images is None:
            return []
        if not isinstance(images, (list, tuple)):
            return [images]
        flat = []
        for item in images:
            flat.extend(item if isinstance(item, (list, tuple)) else [item])
        return [image for image in flat if image is not None]

    def messages(self, question: str | None = None, answer: str | None = None) -> list[dict]:
        """The I-FAS conversation: user = image + question; assistant = the answer, when given."""
        conversation = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question or self.question}]}
        ]
        if answer is not None:
            conversation.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        return conversation

    def build_prompt(self, question: str | None = None) -> str:
        """The rendered prompt, ending right where the judgment word goes."""
        return self.apply_chat_template(self.messages(question), tokenize=False, add_generation_prompt=True)

    def prepare_inputs(self, images, question: str | None = None) -> BatchFeature:
        """Left-padded tensors for `score`/`judge`; raises `ValueError` naming any unreadable image."""
        images = [load_image(image) for image in images]
        prompt = self.build_prompt(question)
        return self(
            images=images, text=[prompt] * len(images), padding=True, padding_side="left",
            add_special_tokens=False, return_tensors="pt",
        )

    def judgment_token_ids(self) -> list[int]:
        """Ids of the live and spoof words as the first answer token; raises if either is not one token."""
        prompt = self.build_prompt()
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = []
        for word in self.judgment_words:
            full = self.tokenizer(prompt + word, add_special_tokens=False)["input_ids"]
            answer = full[len(prompt_ids) :]
            if full[: len(prompt_ids)] != prompt_ids or len(answer) != 1:
                pieces = self.tokenizer.convert_ids_to_tokens(answer)
                raise ValueError(f"judgment word {word!r} is not a single token after the prompt: {pieces}")
            ids.append(answer[0])
        if ids[0] == ids[1]:
            raise ValueError(f"judgment words {self.judgment_words} map to the same token id {ids[0]}")
        return ids

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)


IFASProcessor.register_for_auto_class("AutoProcessor")

__all__ = ["IFASProcessor", "load_image", "to_rgb", "CHAT_TEMPLATE", "MAX_IMAGE_PIXELS"]
