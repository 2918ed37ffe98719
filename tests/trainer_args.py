"""Build an `IFASSFTTrainer` from `train_sft.py` command-line arguments, as the tests of training do."""

from trl import ModelConfig, TrlParser

from train_sft import IFASScriptArguments, IFASSFTConfig, build_trainer

COMMON = ["--use_cpu", "--report_to", "none", "--seed", "0", "--disable_tqdm", "true"]


def make_trainer(checkpoint, dataset_path, output_dir, *args):
    """(trainer, script_args) for a checkpoint and a saved contract dataset, with `COMMON` and `args` appended."""
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=[
        "--model_name_or_path", checkpoint, "--dataset_path", dataset_path, "--output_dir", str(output_dir),
        *COMMON, *args,
    ])
    return build_trainer(script_args, training_args, model_args), script_args
