"""train_sft.py: gradient-accumulation and data-parallel invariance, accelerate launch, LoRA, resume, bad input."""

import json
import os
import subprocess
import sys

import pytest
import torch
from datasets import load_from_disk
from safetensors.torch import load_file
from transformers import TrainerCallback
from trl import ModelConfig, TrlParser

from datasets_scripts.contract import ContractError
from tiny_dataset import tiny_contract_dataset
from trainer_args import COMMON, make_trainer
from train_sft import IFASScriptArguments, IFASSFTConfig, build_trainer, save_final

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "tiny")
    tiny_contract_dataset().save_to_disk(path)
    return path

def parameters(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def assert_same_parameters(a, b, atol=1e-5):
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= atol, worst


def test_gradient_accumulation_invariance(tiny_checkpoint, dataset_path, tmp_path):
    one_step = ["--max_steps", "1", "--optim", "sgd", "--learning_rate", "0.5", "--save_strategy", "no"]
    full, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path / "a", *one_step,
                           "--per_device_train_batch_size", "4")
    accumulated, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path / "b", *one_step,
                                  "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2")
    before = parameters(full.model)
    full.train()
    accumulated.train()
    moved = max((parameters(full.model)[k] - before[k]).abs().max().item() for k in before)
    assert moved > 1e-3  # the step did change the weights
    assert_same_parameters(parameters(full.model), parameters(accumulated.model))


def test_connector_learning_rate_applies_to_gac_and_projector_only(tiny_checkpoint, dataset_path, tmp_path):
    trainer, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path / "clr", "--max_steps", "1", "--optim", "sgd",
                              "--learning_rate", "0.5", "--connector_learning_rate", "0", "--save_strategy", "no",
                              "--per_device_train_batch_size", "4", "--freeze_vision_tower", "false")
    before = parameters(trainer.model)
    trainer.train()
    after = parameters(trainer.model)
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    connector = {name for name in before if name.startswith(("model.gac.", "model.multi_modal_projector."))}
    assert connector and not moved & connector
    assert any(name.startswith("model.language_model.") for name in moved)
    assert any(name.startswith("model.vision_tower.") for name in moved)


def run_script(launcher, checkpoint, dataset_path, output_dir, *args):
    command = [*launcher, os.path.join(REPO, "train_sft.py"), "--model_name_or_path", checkpoint,
               "--dataset_path", dataset_path, "--output_dir", str(output_dir), *COMMON, *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    return run


def test_two_process_data_parallel_equals_one_process_with_doubled_batch(tiny_checkpoint, dataset_path, tmp_path):
    one_step = ["--max_steps", "1", "--optim", "sgd", "--learning_rate", "0.5", "--save_strategy", "no"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517"]
    run_script(torchrun, tiny_checkpoint, dataset_path, tmp_path / "ddp", *one_step,
               "--per_device_train_batch_size", "2")
    run_script([sys.executable], tiny_checkpoint, dataset_path, tmp_path / "single", *one_step,
               "--per_device_train_batch_size", "4")
    ddp, single = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(tmp_path / "single" / "model.safetensors")
    start = load_file(os.path.join(tiny_checkpoint, "model.safetensors"))
    assert max((single[k] - start[k]).abs().max().item() for k in single) > 1e-3
    assert_same_parameters(ddp, single)


def test_accelerate_launch_lowers_loss_and_pipeline_loads_checkpoint(tiny_checkpoint, dataset_path, tmp_path):
    out = tmp_path / "run"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    run_script(launcher, tiny_checkpoint, dataset_path, out, "--max_steps", "12", "--learning_rate", "2e-3",
               "--per_device_train_batch_size", "4", "--logging_steps", "1", "--save_steps", "6")
    state = json.load(open(out / "checkpoint-12" / "trainer_state.json"))
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert "loss_judgment" in state["log_history"][0] and "judgment_accuracy" in state["log_history"][0]
    probe = (
        "import sys; from PIL import Image; from transformers import pipeline\n"
        "pipe = pipeline('image-text-to-text', model=sys.argv[1], trust_remote_code=True)\n"
        "m = [{'role': 'user', 'content': [{'type': 'image', 'image': Image.new('RGB', (16, 16))},"
        " {'type': 'text', 'text': 'Is this photo of a real person?'}]}]\n"
        "print('TEXT', repr(pipe(text=m, max_new_tokens=3, return_full_text=False)[0]['generated_text']))\n"
    )
    for folder in (out, out / "checkpoint-6"):
        run = subprocess.run([sys.executable, "-c", probe, str(folder)], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert run.returncode == 0 and "TEXT" in run.stdout, run.stderr[-3000:]


def test_lora_trains_adapters_only_and_merges_to_same_outputs(tiny_checkpoint, dataset_path, tmp_path):
    trainer, script_args = make_trainer(
        tiny_checkpoint, dataset_path, tmp_path / "lora", "--use_peft", "--lora_r", "4", "--max_steps", "3",
        "--learning_rate", "1e-2", "--per_device_train_batch_size", "4", "--save_strategy", "no")
    before = parameters(trainer.model.base_model.model)
    trainable = {name for name, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    trainer.train()
    after = parameters(trainer.model.base_model.model)
    for name in before:
        changed = not torch.equal(before[name], after[name])
        assert changed == (name in {n.removeprefix("base_model.model.") for n in trainable}), name
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    batch.pop("labels")
    trainer.model.eval()
    with torch.no_grad():
        adapted = trainer.model(**batch).logits
    path = save_final(trainer, script_args)
    from modeling_ifas import IFASForConditionalGeneration

    merged = IFASForConditionalGeneration.from_pretrained(path).eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, adapted, atol=1e-4, rtol=1e-4)


class KillAtStep(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"killed at step {self.step}")


def test_killed_and_resumed_run_matches_uninterrupted_run(tiny_checkpoint, dataset_path, tmp_path):
    args = ["--max_steps", "4", "--save_steps", "2", "--learning_rate", "5e-3", "--per_device_train_batch_size", "2"]
    reference, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path / "ref", *args)
    reference.train()
    killed, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path / "run", *args)
    killed.add_callback(KillAtStep(3))
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert (tmp_path / "run" / "checkpoint-2").is_dir() and not (tmp_path / "run" / "checkpoint-4").exists()
    resumed, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path / "run", *args)
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    assert_same_parameters(parameters(reference.model), parameters(resumed.model), atol=1e-6)


def save_variant(tmp_path, name, transform):
    dataset = transform(load_from_disk_copy(tmp_path))
    path = str(tmp_path / name)
    dataset.save_to_disk(path)
    return path


def load_from_disk_copy(tmp_path):
    source = tmp_path / "source"
    if not source.exists():
        tiny_contract_dataset().save_to_disk(str(source))
    return load_from_disk(str(source))


def test_missing_contract_column_is_refused(tiny_checkpoint, tmp_path):
    path = save_variant(tmp_path, "no_subject", lambda d: d.remove_columns("subject"))
    with pytest.raises(ContractError, match="missing contract column.*subject"):
        make_trainer(tiny_checkpoint, path, tmp_path / "out", "--max_steps", "1")


def test_label_outside_0_1_is_refused(tiny_checkpoint, tmp_path):
    path = save_variant(tmp_path, "bad_label", lambda d: d.map(lambda r, i: {"label": 2 if i == 3 else r["label"]},
                                                               with_indices=True))
    with pytest.raises(ContractError, match="row 3: label 2"):
        make_trainer(tiny_checkpoint, path, tmp_path / "out", "--max_steps", "1")


def test_unreadable_image_row_is_skipped_and_counted(tiny_checkpoint, tmp_path, caplog):
    from datasets import Image as ImageFeature

    def corrupt(dataset):
        train = dataset["train"].cast_column("image", ImageFeature(decode=False))
        train = train.map(lambda r, i: {"image": {"bytes": b"not an image", "path": None} if i == 1 else r["image"]},
                          with_indices=True)
        dataset["train"] = train.cast_column("image", ImageFeature())
        return dataset

    path = save_variant(tmp_path, "corrupt", corrupt)
    with caplog.at_level("WARNING"):
        trainer, _ = make_trainer(tiny_checkpoint, path, tmp_path / "out", "--max_steps", "1")
    assert len(trainer.train_dataset) == 7
    assert "train row 1" in caplog.text and "not an image" in caplog.text


def test_caption_longer_than_max_length_is_refused(tiny_checkpoint, tmp_path):
    path = save_variant(tmp_path, "long", lambda d: d.map(lambda r: {"caption": "very long caption " * 50}))
    with pytest.raises(ValueError, match="exceed max_length=60"):
        make_trainer(tiny_checkpoint, path, tmp_path / "out", "--max_steps", "1", "--max_length", "60")


def test_training_on_a_named_protocol_uses_its_sources_only(tiny_checkpoint, tmp_path):
    sizes = {"oulu_npu": 4, "casia_mfsd": 6, "replay_attack": 8, "msu_mfsd": 10}
    for corpus, n in sizes.items():
        tiny_contract_dataset(n_per_split=n, dataset=corpus).save_to_disk(str(tmp_path / corpus))
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=[
        "--model_name_or_path", tiny_checkpoint, "--protocol", "O&C&I->M", "--data_root", str(tmp_path),
        "--dataset_eval_split", "dev", "--output_dir", str(tmp_path / "out"), "--max_steps", "1", *COMMON])
    trainer = build_trainer(script_args, training_args, model_args)
    datasets = set(trainer.train_dataset["dataset"]) | set(trainer.eval_dataset["dataset"])
    assert datasets == {"oulu_npu", "casia_mfsd", "replay_attack"}  # never the target
    assert len(trainer.train_dataset) + len(trainer.eval_dataset) == 4 + 6 + 8  # the train splits of the sources


def test_protocol_without_data_root_is_refused(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="--protocol needs --data_root"):
        make_trainer(tiny_checkpoint, "", tmp_path / "out", "--protocol", "OCI_to_M")


def test_compute_loss_leaves_the_labels_for_metrics(tiny_checkpoint, dataset_path, tmp_path):
    trainer, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path, "--max_steps", "1", "--save_strategy", "no")
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    labels = batch["labels"].clone()
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)
    assert torch.equal(batch["labels"], labels)  # still there for prediction_step / compute_metrics
    # The loss is the L-LM loss of the same batch computed from the model's logits and those labels.
    from train_sft import lopsided_loss, lopsided_loss_terms

    with torch.no_grad():
        logits = trainer.model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits
    terms = lopsided_loss_terms(logits, labels)
    expected = lopsided_loss(terms, trainer.args.judgment_weight, terms["judgment_count"], terms["interpretation_count"])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
