"""Cross-domain protocols over built corpora (`DATA_ROOT/<corpus>`, each a contract DatasetDict).

Named protocols (`PROTOCOLS`; letters O OULU-NPU, C CASIA-MFSD, I Replay-Attack, M MSU-MFSD):
- OCIM leave-one-out: ``OCI_to_M``, ``OMI_to_C``, ``OCM_to_I``, ``ICM_to_O`` (also written ``O&C&I->M``), and the same
  four with CelebA-Spoof as an extra source: ``OCI_celeba_to_M``, ``OMI_celeba_to_C``, ``OCM_celeba_to_I``, ``ICM_celeba_to_O``;
- ``one_to_eleven``: train on CelebA-Spoof, test on each of the other 11 corpora.
Conventions (FLIP's cross-domain lists): a source or target corpus contributes its official train and test splits
(`source_splits`, `target_splits`; the corpus dev splits are left out). The dev set for threshold selection is
drawn from the sources only: per source corpus a seeded `dev_fraction` of its subjects (`dev_group="subject"`, or
of its videos with "video_id") is held out of training, at least one group per corpus; targets are never touched.

A YAML recipe names a protocol (``protocol: OCI_to_M``) or a mapping: ``{protocol: OCI_to_M, seed: 1}`` overrides
fields of a named one, ``{name: ..., sources: [...], targets: [...]}`` defines a new one.

Example:
    >>> get_protocol("O&C&I->M").sources
    ('oulu_npu', 'casia_mfsd', 'replay_attack')
    >>> data = load_protocol("OCI_to_M", "data")  # doctest: +SKIP
    >>> data.train, data.dev, data.test["msu_mfsd"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk

from datasets_scripts.corpora import BUILDERS

OCIM = {"O": "oulu_npu", "C": "casia_mfsd", "I": "replay_attack", "M": "msu_mfsd"}
CELEBA = "celeba_spoof"
ONE_TO_ELEVEN_TARGETS = (
    "casia_mfsd",
    "casia_surf_3dmask",
    "hkbu_mars",
    "hifimask",
    "msu_mfsd",
    "oulu_npu",
    "replay_attack",
    "rose_youtu",
    "siw",
    "siw_m",
    "wmca",
)
DEV_GROUPS = ("subject", "video_id")


@dataclass(frozen=True)
class Protocol:
    """Which built corpora train (sources) and test (targets), with which splits, and how dev is drawn."""

    name: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    source_splits: tuple[str, ...] = ("train", "test")
    target_splits: tuple[str, ...] = ("train", "test")
    dev_fraction: float = 0.1
    dev_group: str = "subject"
    seed: int = 0

    def __post_init__(self):
        for name in ("sources", "targets", "source_splits", "target_splits"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if set(self.sources) & set(self.targets):
            raise ValueError(f"protocol {self.name}: {sorted(set(self.sources) & set(self.targets))} are both source and target")
        if not 0 <= self.dev_fraction < 1:
            raise ValueError(f"protocol {self.name}: dev_fraction {self.dev_fraction} is not in [0, 1)")
        if self.dev_group not in DEV_GROUPS:
            raise ValueError(f"protocol {self.name}: dev_group {self.dev_group!r} is not one of {DEV_GROUPS}")

    @property
    def corpora(self) -> tuple[str, ...]:
        return self.sources + self.targets


def _ocim_protocols() -> dict[str, Protocol]:
    protocols = {}
    for target_letter in "MCIO":
        source_letters = {"M": "OCI", "C": "OMI", "I": "OCM", "O": "ICM"}[target_letter]
        sources = tuple(OCIM[letter] for letter in source_letters)
        for suffix, extra in (("", ()), ("_celeba", (CELEBA,))):
            name = f"{source_letters}{suffix}_to_{target_letter}"
            protocols[name] = Protocol(name, sources + extra, (OCIM[target_letter],))
    return protocols


PROTOCOLS: dict[str, Protocol] = {
    **_ocim_protocols(),
    "one_to_eleven": Protocol("one_to_eleven", (CELEBA,), ONE_TO_ELEVEN_TARGETS),
}


class MissingCorporaError(FileNotFoundError):
    """Some corpora a protocol needs are not built under the data root."""


@dataclass
class ProtocolData:
    """A protocol's data: per-source training parts, their concatenation, the source dev set, per-target tests."""

    protocol: Protocol
    train_parts: dict[str, Dataset]
    dev: Dataset
    test: dict[str, Dataset] = field(default_factory=dict)

    @property
    def train(self) -> Dataset:
        return concatenate_datasets(list(self.train_parts.values()))

    def as_dataset_dict(self) -> DatasetDict:
        """{"train", "dev", "test_<target>" ...} in one DatasetDict."""
        return DatasetDict({"train": self.train, "dev": self.dev, **{f"test_{k}": v for k, v in self.test.items()}})


def protocol_names() -> list[str]:
    return list(PROTOCOLS)


def _normalise(name: str) -> str:
    return name.replace("&", "").replace("->", "_to_").replace(" ", "")


def get_protocol(spec: str | Mapping | Protocol) -> Protocol:
    """A Protocol from a name (``OCI_to_M``, ``O&C&I->M``), a YAML mapping (see module docstring) or a Protocol."""
    if isinstance(spec, Protocol):
        return spec
    if isinstance(spec, str):
        if _normalise(spec) not in PROTOCOLS:
            raise KeyError(f"unknown protocol {spec!r}; known: {', '.join(PROTOCOLS)}")
        return PROTOCOLS[_normalise(spec)]
    if isinstance(spec, Mapping):
        fields = dict(spec)
        if "protocol" in fields:
            return dataclasses.replace(get_protocol(fields.pop("protocol")), **fields)
        missing = {"name", "sources", "targets"} - set(fields)
        if missing:
            raise ValueError(f"protocol mapping {spec!r} needs 'protocol' (a known name) or all of name, sources, targets")
        return Protocol(**fields)
    raise TypeError(f"a protocol is a name, a mapping or a Protocol, not {type(spec).__name__}")


def missing_corpora(protocol: str | Mapping | Protocol, data_root: str | Path) -> dict[str, str]:
    """{corpus: why it is unavailable} for every corpus of `protocol` not built under `data_root`."""
    protocol, data_root = get_protocol(protocol), Path(data_root)
    missing = {}
    for corpus in protocol.corpora:
        if (data_root / corpus / "dataset_dict.json").is_file():
            continue
        if corpus in BUILDERS:
            missing[corpus] = (
                f"not built: no {data_root / corpus}/dataset_dict.json "
                f"(python -m datasets_scripts.build {corpus} --root RAW --out {data_root / corpus})"
            )
        else:
            missing[corpus] = f"unknown corpus and no built copy at {data_root / corpus}"
    return missing


def _splits(corpus: str, data_root: Path, wanted: tuple[str, ...]) -> Dataset:
    built = load_from_disk(str(data_root / corpus))
    present = [split for split in wanted if split in built]
    if not present:
        raise MissingCorporaError(f"{data_root / corpus}: has splits {list(built)}, none of {list(wanted)}")
    return concatenate_datasets([built[split] for split in present])


def split_dev(dataset: Dataset, fraction: float, group: str, seed: int, corpus: str) -> tuple[Dataset, Dataset]:
    """(train, dev) of one source corpus: a seeded `fraction` of its `group` values (at least one) goes to dev."""
    values = dataset[group]
    groups = sorted(set(values))
    n_dev = 0 if fraction == 0 or len(groups) < 2 else max(1, round(fraction * len(groups)))
    rng = np.random.default_rng([seed, *corpus.encode()])
    dev_groups = set(rng.permutation(groups)[:n_dev].tolist())
    dev_rows = [i for i, value in enumerate(values) if value in dev_groups]
    dev_set = set(dev_rows)
    train_rows = [i for i in range(len(values)) if i not in dev_set]
    return dataset.select(train_rows, keep_in_memory=True), dataset.select(dev_rows, keep_in_memory=True)


def load_protocol(protocol: str | Mapping | Protocol, data_root: str | Path) -> ProtocolData:
    """Load `protocol` from built corpora under `data_root`; MissingCorporaError lists every corpus missing."""
    protocol, data_root = get_protocol(protocol), Path(data_root)
    missing = missing_corpora(protocol, data_root)
    if missing:
        lines = "\n".join(f"- {corpus}: {why}" for corpus, why in missing.items())
        raise MissingCorporaError(f"protocol {protocol.name} cannot load; missing under {data_root}:\n{lines}")
    train_parts, dev_parts = {}, []
    for corpus in protocol.sources:
        train, dev = split_dev(
            _splits(corpus, data_root, protocol.source_splits), protocol.dev_fraction, protocol.dev_group, protocol.seed, corpus
        )
        train_parts[corpus] = train
        dev_parts.append(dev)
    test = {corpus: _splits(corpus, data_root, protocol.target_splits) for corpus in protocol.targets}
    return ProtocolData(protocol, train_parts, concatenate_datasets(dev_parts), test)
