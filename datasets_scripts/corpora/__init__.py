"""Registry of corpus builders: dataset name -> module `datasets_scripts.corpora.<name>`.

The module file name IS the `dataset` value written into every row, and the folder name under a parent of built
corpora (`OUT_PARENT/<name>`). Built here:

| name            | corpus                  | splits           | letter |
|-----------------|-------------------------|------------------|--------|
| `celeba_spoof`  | CelebA-Spoof            | train, test      |        |
| `casia_mfsd`    | CASIA-MFSD (CASIA-FASD) | train, test      | C      |
| `replay_attack` | Idiap Replay-Attack     | train, dev, test | I      |
| `msu_mfsd`      | MSU-MFSD                | train, test      | M      |
| `oulu_npu`      | OULU-NPU                | train, dev, test | O      |
| `siw`           | SiW                     | train, test      |        |
| `siw_m`         | SiW-M                   | train, test      |        |
| `rose_youtu`    | ROSE-Youtu              | train, test      |        |
| `hkbu_mars`     | HKBU-MARs (V2)          | train, test      |        |
| `casia_surf_3dmask` | CASIA-SURF 3DMask   | train, test      |        |
| `hifimask`      | CASIA-SURF HiFiMask     | train, dev, test |        |
| `wmca`          | WMCA (RGB)              | train, dev, test | W      |

Splits are those a corpus's module can produce (each module's docstring gives its split rule). Adding a corpus is
one module here that defines
`NAME` (= its file name), `TITLE`, `SPLITS` and `scan(root) -> Iterator[MediaItem | Skip]`
(see `datasets_scripts.base`); it is discovered automatically.

Example:
    >>> get_corpus("oulu_npu").SPLITS
    ('train', 'dev', 'test')
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

BUILDERS = tuple(sorted(info.name for info in pkgutil.iter_modules(__path__)))


def get_corpus(name: str) -> ModuleType:
    """The corpus module called `name`; a clear error for unknown names."""
    if name in BUILDERS:
        module = importlib.import_module(f"{__name__}.{name}")
        if module.NAME != name:
            raise RuntimeError(f"{module.__file__}: NAME {module.NAME!r} must equal its module name {name!r}")
        return module
    raise KeyError(f"unknown corpus {name!r}; known: {', '.join(BUILDERS)}")
