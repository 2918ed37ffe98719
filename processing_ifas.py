"""I-FAS processor: images through `image_io_ifas.load_image` (strict decoding), `<image>` expansion, the chat
template (every message checked by `validation_ifas`) and the fixed-question prompt."""

import dataclasses

from transformers import BatchFeature, ImageTextToTextPipeline, ProcessorMixin

try:
    from .configuration_ifas import DEFAULT_JUDGMENT_WORDS, DEFAULT_QUESTION
    from .image_io_ifas import MAX_IMAGE_PIXELS, describe, load_image, to_rgb
    from .validation_ifas import as_image_list, check_conversation, control_tokens
    from .faces_ifas import Face, check_face_crop, find_face
except ImportError:  # imported from the installed project rather than from a checkpoint's remote code
    from configuration_ifas import DEFAULT_JUDGMENT_WORDS, DEFAULT_QUESTION
    from image_io_ifas import MAX_IMAGE_PIXELS, describe, load_image, to_rgb
    from validation_ifas import as_image_list, check_conversation, control_tokens
    from faces_ifas import Face, check_face_crop, find_face

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
        face_crop (`dict`, *optional*): how the model expects faces, `{"detector": "mtcnn", "scale": 1.3,
            "size": 224}` (`faces_ifas`, the builders' rule); every image is cropped to its largest face first.
            None (the default): images go in whole.

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
        face_crop=None,
        **kwargs,
    ):
        self.face_crop = check_face_crop(face_crop)
        self.num_image_tokens = num_image_tokens
        self.image_token = image_token
        self.question = question
        self.judgment_words = list(judgment_words)
        super().__init__(image_processor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE)
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(image_token)
        if self.image_token_id is None or self.image_token_id == self.tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {image_token!r} token: add it as a special token first")

    def __call__(self, images=None, text=None, crop_faces: bool = True, url_timeout: float | None = None,
                 **kwargs) -> BatchFeature:
        """Tokenize `text` (one string or a list) with every `<image>` expanded, and process `images`
        (one image, a list, or one list per text), each cropped to its face by `face_crop` unless `crop_faces` is
        False (images that are face crops already, e.g. training rows). Image URLs are refused unless
        `url_timeout` (seconds) is given. Tokenizer kwargs (padding, padding_side, truncation, ...) pass through;
        `return_tensors` applies to both."""
        return_tensors = kwargs.pop("return_tensors", None)
        for key in ("images_kwargs", "text_kwargs", "videos_kwargs", "audio_kwargs", "common_kwargs"):
            kwargs.update(kwargs.pop(key, None) or {})
        kwargs.pop("videos", None), kwargs.pop("audio", None)
        flat_images = self._flatten_images(images)
        data = {}
        if flat_images:
            rgb = [load_image(image, url_timeout=url_timeout) for image in flat_images]
            if crop_faces and self.face_crop:
                rgb = [find_face(image, self.face_crop, describe(source)).image
                       for image, source in zip(rgb, flat_images)]
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

    def wants_special_tokens(self, text: str) -> bool:
        """Whether to tokenize `text` with the tokenizer's special tokens: yes (a Llama tokenizer then adds BOS),
        unless the chat template already put the BOS token in (Llama-3); the rule of `apply_chat_template`."""
        bos = self.tokenizer.bos_token
        return not (bos is not None and text.startswith(bos))

    def encode_text(self, text: str) -> list[int]:
        """Token ids of one rendered text as `__call__` makes them: special tokens per `wants_special_tokens`, each
        `<image>` expanded to `num_image_tokens` ids."""
        expanded = text.replace(self.image_token, self.image_token * self.num_image_tokens)
        return list(self.tokenizer(expanded, add_special_tokens=self.wants_special_tokens(text))["input_ids"])

    def apply_chat_template(self, conversation, *args, **kwargs):
        """`ProcessorMixin.apply_chat_template`, refusing chat control tokens typed in user text (`ValueError`)."""
        check_conversation(conversation, control_tokens(self.tokenizer, self.image_token))
        return super().apply_chat_template(conversation, *args, **kwargs)

    def build_prompt(self, question: str | None = None) -> str:
        """The rendered prompt, ending right where the judgment word goes."""
        return self.apply_chat_template(self.messages(question), tokenize=False, add_generation_prompt=True)

    def build_conversation(self, answer: str, question: str | None = None) -> str:
        r"""The rendered conversation: `build_prompt(question)`, the answer, and the template's end of turn.

        A template that closes the assistant turn without any special token (llava-hf's LLaVA-1.5 template ends it
        with a space) gets the EOS token instead, as LLaVA trained (`answer</s>`), so the model learns to stop.

        >>> processor.build_conversation("No")   # ChatML  # doctest: +SKIP
        '<|im_start|>user\n<image>Is this photo of a real person?<|im_end|>\n<|im_start|>assistant\nNo<|im_end|>\n'
        """
        prompt = self.build_prompt(question)
        text = self.apply_chat_template(self.messages(question, answer), tokenize=False)
        if not text.startswith(prompt) or answer not in text[len(prompt) :]:
            raise ValueError(
                f"the chat template does not render the answer after the generation prompt: prompt {prompt!r}, "
                f"conversation {text!r}"
            )
        end = text.rindex(answer) + len(answer)
        if self.end_of_turn_token(text[end:]) is None:
            if self.tokenizer.eos_token is None:
                raise ValueError("the chat template ends the assistant turn with no special token and the tokenizer "
                                 "has no EOS token: nothing would teach the model to stop")
            text = text.rstrip() + self.tokenizer.eos_token
        return text

    def end_of_turn_token(self, tail: str | None = None) -> str | None:
        """The first special token of `tail` (default: what the template writes after an answer): ChatML's
        `<|im_end|>`, Llama-3's `<|eot_id|>`; `None` when there is none (then the EOS token ends the turn)."""
        if tail is None:
            text = self.build_conversation(self.judgment_words[0])
            tail = text[text.rindex(self.judgment_words[0]) + len(self.judgment_words[0]) :]
        specials = [token.content for token in self.tokenizer.added_tokens_decoder.values() if token.special]
        found = [(tail.index(token), token) for token in specials if token in tail]
        return min(found)[1] if found else None

    def prepare_inputs(self, images, question: str | None = None, crop_faces: bool = True) -> BatchFeature:
        """Left-padded tensors for `score`/`judge`; raises `ValueError` naming any unreadable image (or one without
        a face, when `face_crop` is set and `crop_faces` is True)."""
        images = as_image_list(images)
        if crop_faces:
            images = [face.image for face in self.detect_faces(images)]
        else:
            images = [load_image(image) for image in images]
        prompt = self.build_prompt(question)
        return self(
            images=images, text=[prompt] * len(images), padding=True, padding_side="left",
            add_special_tokens=self.wants_special_tokens(prompt), return_tensors="pt", crop_faces=False,
        )

    def detect_faces(self, images, strict: bool = True, crop_faces: bool = True) -> list:
        """Load each image and find its face by `face_crop` (`faces_ifas.Face`: the crop, box, face count, error;
        the whole image when `face_crop` is None or `crop_faces` False). An unreadable image or one without a face:
        ValueError naming the input when `strict`, else a `Face` whose image is None and whose error says why ("no
        face found", or the decoding error naming the input), so one bad input never fails a batch."""
        face_crop = self.face_crop if crop_faces else None
        faces = []
        for image in images:
            try:
                rgb = load_image(image)
            except ValueError as error:
                if strict:
                    raise
                faces.append(Face(None, error=str(error)))
                continue
            faces.append(_in_input_pixels(find_face(rgb, face_crop, describe(image), strict), rgb))
        return faces

    def judgment_token_ids(self) -> list[int]:
        """Ids of the live and spoof words as the first answer token, tokenized in context as training sees them
        (the rendered conversation cut after the word); raises if either is not one token after the prompt."""
        prompt = self.build_prompt()
        prompt_ids = self.encode_text(prompt)
        ids = []
        for word in self.judgment_words:
            conversation = self.build_conversation(word)
            full = self.encode_text(conversation[: conversation.index(word, len(prompt)) + len(word)])
            answer = full[len(prompt_ids) :]
            if full[: len(prompt_ids)] != prompt_ids or len(answer) != 1:
                pieces = self.tokenizer.convert_ids_to_tokens(answer)
                raise ValueError(f"judgment word {word!r} is not a single token after the prompt: {pieces}")
            ids.append(answer[0])
        if ids[0] == ids[1]:
            raise ValueError(f"judgment words {self.judgment_words} map to the same token id {ids[0]}")
        return ids

    def phrase_token_ids(self, phrases) -> list[list[int]]:
        """Token id sequences of `phrases` as they can occur in generated text: as written, capitalised and lower
        case, in the plural, each with and without a leading space (no special tokens), without duplicates.

        >>> len(processor.phrase_token_ids(["live face"]))  # doctest: +SKIP
        8
        """
        sequences = []
        for phrase in phrases:
            cases = (phrase, phrase[:1].upper() + phrase[1:], phrase.lower())
            for form in dict.fromkeys(case + ending for case in cases for ending in ("", "s")):
                for text in (form, " " + form):
                    ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
                    if ids and ids not in sequences:
                        sequences.append(ids)
        return sequences

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)


class IFASImageTextToTextPipeline(ImageTextToTextPipeline):
    """`pipeline("image-text-to-text", model=CHECKPOINT, trust_remote_code=True)` for I-FAS checkpoints (their config's
    `custom_pipelines`): images given beside a text (no chat) are decoded by `load_image` (strict; an image URL only
    with `timeout=` seconds) instead of transformers' plain Pillow loader, which decodes corrupt JPEG scans and
    fetches URLs without a time limit; `timeout=` also reaches the image blocks of a chat. A pipeline built from
    objects gets it with `pipeline(..., model=model, processor=processor, pipeline_class=IFASImageTextToTextPipeline)`.
    An explanation that follows a generated Yes/No never writes what contradicts it, as in `judge`
    (`IFASForConditionalGeneration.contradiction_bans`).
    """

    def _forward(self, model_inputs, generate_kwargs=None):
        generate_kwargs = dict(generate_kwargs or {})
        if hasattr(self.model, "contradiction_bans") and self.model.config.judgment_token_ids:
            generate_kwargs.setdefault("contradiction_bans", self.model.contradiction_bans(self.processor))
        return super()._forward(model_inputs, generate_kwargs)

    def preprocess(self, inputs=None, timeout=None, continue_final_message=None, **processing_kwargs):
        if isinstance(inputs, dict) and inputs.get("images") is not None:
            images = inputs["images"]
            if isinstance(images, (list, tuple)):
                images = [[load_image(image, url_timeout=timeout) for image in item] if isinstance(item, (list, tuple))
                          else load_image(item, url_timeout=timeout) for item in images]
            else:
                images = load_image(images, url_timeout=timeout)
            inputs = {**inputs, "images": images}
        elif timeout is not None:
            processor_kwargs = dict(processing_kwargs.pop("processor_kwargs", None) or {})
            processing_kwargs["processor_kwargs"] = {**processor_kwargs, "url_timeout": timeout}
        return super().preprocess(inputs, timeout=timeout, continue_final_message=continue_final_message,
                                  **processing_kwargs)


def _in_input_pixels(face, image):
    """`face` with its box in the input's pixels when `load_image` decoded `image` reduced (large photos)."""
    divisor = image.info.get("ifas_reduction", 1)
    if face.box is None or divisor == 1:
        return face
    return dataclasses.replace(face, box=tuple(v * divisor for v in face.box))


IFASProcessor.register_for_auto_class("AutoProcessor")

__all__ = ["IFASProcessor", "IFASImageTextToTextPipeline", "load_image", "to_rgb", "CHAT_TEMPLATE", "MAX_IMAGE_PIXELS"]
