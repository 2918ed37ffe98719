"""Tiny tokenizers of three families, trained in code with `tokenizers`, each with its own chat template.

- ChatML byte-level BPE (Qwen2, SmolLM2): `ifas.model_builders.train_tiny_tokenizer` + `processing_ifas.CHAT_TEMPLATE`.
- SentencePiece-style byte-fallback-free BPE with `Metaspace` (Llama-2/Vicuna, the LLM of LLaVA-1.5): BOS added by
  the tokenizer, llava-hf's LLaVA-1.5 template (`USER: <image>\\n... ASSISTANT:`, no BOS, no EOS).
- Llama-3 style byte-level BPE: BOS added by the tokenizer and written by the template too, `<|eot_id|>` ends a turn.
"""

import json

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from ifas.model_builders import TINY_CORPUS, train_tiny_tokenizer
from processing_ifas import CHAT_TEMPLATE

# llava-hf/llava-1.5-7b-hf's chat_template.json
LLAVA15_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', "
    "'text') %}{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | "
    "selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}"
    "{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}{{ '<image>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{{ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
# No "Yes."/"No." in the corpus: whether the judgment word merges with its full stop is set by hand below.
CORPUS = [
    "USER: ASSISTANT: user assistant system\nIs this photo of a real person?\n",
    "Yes No Yes No Yes, No, the face is live the face is a spoof\n",
    "\n\nYes\n\nNo\n\nYes\n\nNo\n",
    TINY_CORPUS.replace("Yes. No. ", ""),
    "Natural skin texture and real depth. The face is printed on paper with halftone dots.\n",
] * 20


def _with_bos(tokenizer: Tokenizer, bos: str) -> None:
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
    )


def chatml_family() -> tuple[PreTrainedTokenizerFast, str]:
    return train_tiny_tokenizer(), CHAT_TEMPLATE


def sentencepiece_family(merge_no_period: bool = False) -> tuple[PreTrainedTokenizerFast, str]:
    """A Metaspace BPE (prepend scheme "first", as transformers 5 rebuilds Llama's) that adds `<s>`; with
    `merge_no_period`, one extra merge makes "No." a single piece `'▁No.'`."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    specials = ["<unk>", "<s>", "</s>", "<image>", "<pad>"]
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=specials))
    if merge_no_period:
        state = json.loads(tokenizer.to_str())
        vocab, merges = state["model"]["vocab"], state["model"]["merges"]
        vocab["▁No."] = len(vocab)
        merges.append(["▁No", "."] if merges and isinstance(merges[0], list) else "▁No .")
        tokenizer = Tokenizer.from_str(json.dumps(state))
    _with_bos(tokenizer, "<s>")
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    return wrapped, LLAVA15_TEMPLATE


def llama3_family() -> tuple[PreTrainedTokenizerFast, str]:
    """Byte-level BPE whose tokenizer adds `<|begin_of_text|>` and whose template writes it too."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                "<image>", "<pad>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    _with_bos(tokenizer, "<|begin_of_text|>")
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    return wrapped, LLAMA3_TEMPLATE
