"""Shared fixtures: tiny random I-FAS models and images, built offline in code."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_and_processor():
    from ifas.model_builders import tiny_ifas

    return tiny_ifas("dinov2")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model_and_processor):
    from ifas.model_builders import save_checkpoint

    model, processor = tiny_model_and_processor
    return save_checkpoint(model, processor, str(tmp_path_factory.mktemp("tiny_ifas")))

