"""The collator renders whole conversations with the processor's own template and supervises, as the judgment,
exactly the token id that `score()` reads after the prompt: on ChatML byte-level BPE, SentencePiece/Metaspace with
LLaVA-1.5's template, and Llama-3 style BOS; a tokenizer that merges "No." into one piece is caught at start-up."""

import pytest
import torch

from ifas.model_builders import build_processor, tiny_config
from modeling_ifas import IFASForConditionalGeneration
from ifas.train.sft_data import IFASCollator, check_judgment_tokens
from tiny_dataset import CAPTIONS, tiny_contract_dataset, tiny_image
from tokenizer_families import chatml_family, llama3_family, sentencepiece_family
from train_sft import IFASSFTConfig, IFASSFTTrainer

# family: (judgment pieces (live, spoof), BOS piece or None, pieces that close a captioned answer)
FAMILIES = {
    "chatml": (chatml_family, ("Yes", "No"), None, ["<|im_end|>", "Ċ"]),
    "sentencepiece": (sentencepiece_family, ("▁Yes", "▁No"), "<s>", ["</s>"]),
    "llama3": (llama3_family, ("Yes", "No"), "<|begin_of_text|>", ["<|eot_id|>"]),
}


def processor_for(tokenizer, template):
    config = tiny_config("clip", gac_num_queries=2)
    config.text_config.vocab_size = len(tokenizer)
    return config, build_processor(config, tokenizer, chat_template=template)


def row(label, caption):
    return {"image": tiny_image(label, label), "label": label, "caption": caption, "video_id": f"v{label}"}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_first_supervised_token_is_the_scored_token(family):
    make, judgment_pieces, bos, closing = FAMILIES[family]
    tokenizer, template = make()
    _, processor = processor_for(tokenizer, template)
    collator = IFASCollator(processor)
    scored = processor.judgment_token_ids()
    assert tokenizer.convert_ids_to_tokens(scored) == list(judgment_pieces)
    rows = [row(0, CAPTIONS[0]), row(1, CAPTIONS[1]), row(1, "")]
    check_judgment_tokens(collator, rows, scored)

    batch = collator(rows)
    score_prompt = processor.prepare_inputs([rows[0]["image"]])["input_ids"][0].tolist()
    for i, example in enumerate(rows):
        ids, labels = batch["input_ids"][i], batch["labels"][i]
        length = int(batch["attention_mask"][i].sum())
        supervised = (labels != -100).nonzero().flatten().tolist()
        # score() reads the logits after its prompt; training supervises the token right after the same prompt
        assert ids[: len(score_prompt)].tolist() == score_prompt and supervised[0] == len(score_prompt)
        assert tokenizer.convert_ids_to_tokens(int(labels[supervised[0]])) == judgment_pieces[example["label"]]
        if example["caption"]:
            assert supervised == list(range(len(score_prompt), length))
            pieces = tokenizer.convert_ids_to_tokens(ids[supervised].tolist())
            assert pieces[-len(closing):] == closing
        else:
            assert len(supervised) == 1
        starts = tokenizer.convert_ids_to_tokens(ids[:2].tolist())
        if bos is None:
            assert tokenizer.bos_token is None or tokenizer.bos_token not in starts
        else:  # exactly one BOS, first
            assert starts[0] == bos and starts[1] != bos and (ids[:length] == tokenizer.bos_token_id).sum() == 1


def test_merged_judgment_piece_is_caught_naming_both_pieces():
    tokenizer, template = sentencepiece_family(merge_no_period=True)
    _, processor = processor_for(tokenizer, template)
    scored = processor.judgment_token_ids()  # "No" alone after the prompt is still '▁No'
    assert tokenizer.convert_ids_to_tokens(scored) == ["▁Yes", "▁No"]
    with pytest.raises(ValueError, match=r"supervises '▁No\.' \(id \d+\).*reads P\(live\) from '▁No' \(id \d+\)"):
        check_judgment_tokens(IFASCollator(processor), [row(1, CAPTIONS[1])], scored)


def test_trainer_start_up_refuses_the_mismatch(tmp_path):
    tokenizer, template = sentencepiece_family(merge_no_period=True)
    config, processor = processor_for(tokenizer, template)
    torch.manual_seed(0)
    model = IFASForConditionalGeneration(config)
    args = IFASSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=1)
    with pytest.raises(ValueError, match=r"'▁No\.'.*'▁No'"):
        IFASSFTTrainer(model=model, args=args, train_dataset=tiny_contract_dataset()["train"],
                       processing_class=processor)
