"""Run the docstring examples of every library module (examples that need a checkpoint, the Hub or the demo's
assets are marked `# doctest: +SKIP` where they stand). Markdown fences (```python ... ```) around an example, the
transformers docstring style, are not part of its expected output."""

import doctest
import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("datasets_scripts", "ifas")
FENCE = re.compile(r"^[ \t]*```[a-z]*[ \t]*$", re.MULTILINE)


def modules_with_examples() -> list[str]:
    paths = [*REPO.glob("*.py"), *(path for package in PACKAGES for path in (REPO / package).rglob("*.py"))]
    names = []
    for path in sorted(paths):
        if ">>>" in path.read_text(encoding="utf-8"):
            relative = path.relative_to(REPO).with_suffix("")
            names.append(".".join(relative.parts).removesuffix(".__init__"))
    return names


class FencedParser(doctest.DocTestParser):
    def parse(self, string, name="<string>"):
        return super().parse(FENCE.sub("", string), name)


MODULES = modules_with_examples()


def test_the_library_has_examples():
    assert {"configuration_ifas", "modeling_ifas", "processing_ifas", "ifas.train.sft_data",
            "ifas.fas_metrics.fas_metrics"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(parser=FencedParser())
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = []
    for test in finder.find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
