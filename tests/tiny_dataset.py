"""A tiny contract DatasetDict generated in code: live = smooth images, spoof = striped ones."""

import numpy as np
from datasets import Dataset, DatasetDict
from PIL import Image

from datasets_scripts.contract import FEATURES, make_record

CAPTIONS = {0: "Natural skin texture and real depth.", 1: "The face is printed on paper with halftone dots."}


def tiny_image(label: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, 3)
    image = np.tile(base, (16, 16, 1)).astype(np.float64) + rng.normal(0, 5, (16, 16, 3))
    if label == 1:
        image[::2] = 255 - image[::2]
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def tiny_contract_dataset(n_per_split: int = 8, with_captions: bool = True, dataset: str = "tiny") -> DatasetDict:
    splits = {}
    for split_index, split in enumerate(("train", "dev")):
        rows = []
        for i in range(n_per_split):
            label = i % 2
            rows.append(make_record(
                image=tiny_image(label, 1000 * split_index + i), label=label,
                attack_type="none" if label == 0 else "print", dataset=dataset, split=split,
                subject=f"s{split_index}_{i // 2}", video_id=f"{split}_{i}",
                caption=CAPTIONS[label] if with_captions else "", caption_source="template" if with_captions else "",
            ))
        splits[split] = Dataset.from_list(rows, features=FEATURES)
    return DatasetDict(splits)
