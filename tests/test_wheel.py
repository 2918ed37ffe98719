"""What `pip install .` puts at the top level of site-packages: the Hub remote-code modules, `train_sft`,
`datasets_scripts` and one package, `ifas` (issue 24); nothing named `demo`, `reporting`, ... The wheel is built
from a copy of the working tree, so the test leaves no `build/` or `*.egg-info` behind. The remote-code modules are
downloaded alone from the Hub, so they import only each other and third-party packages, never `ifas`."""

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REMOTE_CODE = ("configuration_ifas", "modeling_ifas", "processing_ifas", "image_io_ifas", "validation_ifas",
               "faces_ifas", "heatmap_ifas")
TOP_LEVEL = {*REMOTE_CODE, "train_sft", "datasets_scripts", "ifas"}


def source_files() -> list[str]:
    """The files git would commit (tracked, or new and not ignored), relative to the repository root."""
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True)
    return [name for name in listing.stdout.splitlines() if (REPO / name).is_file()]


def build_wheel(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in source_files():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tree / name)
    # offline and fast: no index, no pip version check (each would wait on the network), the installed setuptools
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                          "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"), str(tree)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("ifas-*.whl")
    return wheel


def test_the_wheel_installs_exactly_the_listed_top_level_names(tmp_path):
    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        names = wheel.namelist()
        entry_points = next(wheel.read(name).decode() for name in names if name.endswith(".dist-info/entry_points.txt"))
    top = {name.split("/")[0].removesuffix(".py") for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == TOP_LEVEL
    assert "ifas = ifas.cli:main" in entry_points
    # the CLI's `python -m ifas` and the `evaluate` metric folder (evaluate.load needs fas_metrics/fas_metrics.py)
    assert {"ifas/__main__.py", "ifas/fas_metrics/fas_metrics.py", "datasets_scripts/corpora/__init__.py"} <= set(names)


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, also inside functions and try blocks."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def test_remote_code_imports_no_package_of_this_repository():
    for name in REMOTE_CODE:
        ours = imported_modules(REPO / f"{name}.py") & (TOP_LEVEL - set(REMOTE_CODE))
        assert not ours, f"{name}.py imports {sorted(ours)}: a Hub download of the model files has no such module"
