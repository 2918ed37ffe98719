"""Model card (README.md) for an ifas checkpoint: Hub metadata, results tables from results.json, usage, limits.

Example:
    >>> from ifas.reporting import load_results, render_model_card
    >>> card = render_model_card(load_results("report/results.json"), repo_id="me/ifas-small")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from ifas.reporting.tables import apcer_table_markdown, full_table_markdown, paper_table_markdown

QUESTION = "Is this photo of a real person?"
DEFAULT_TAGS = ("face-anti-spoofing", "presentation-attack-detection", "liveness-detection", "ifas", "custom_code")
TESTED_PACKAGES = ("transformers", "torch", "trl", "peft")
CITATION = """@inproceedings{zhang2025ifas,
  title     = {Interpretable Face Anti-Spoofing: Enhancing Generalization with Multimodal Large Language Models},
  author    = {Zhang, Guosheng and Wang, Keyao and Yue, Haixiao and Liu, Ajian and Zhang, Gang and Yao, Kun
               and Ding, Errui and Wang, Jingdong},
  booktitle = {Proceedings of the AAAI Conference on Artificial Intelligence},
  year      = {2025},
  note      = {arXiv:2501.01720}
}"""


def _usage(repo_id: str, threshold: float | None) -> str:
    cut = (f"{threshold:.6g} (calibrated on a dev set, stored as config.threshold)" if threshold is not None
           else "0.5 until you calibrate config.threshold on your own dev data")
    return f'''```python
from transformers import AutoModel, AutoProcessor, pipeline

model = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("{repo_id}", trust_remote_code=True)

# P(live) from the first answer token (softmax over "Yes"/"No"): one forward pass, no text generation.
p_live = model.score(processor, ["face.jpg"])            # tensor of shape (1,)

# Judgment (P(live) >= threshold: {cut}), P(live) and the explanation.
print(model.judge(processor, ["face.jpg"])[0])

# Or through the pipeline.
pipe = pipeline("image-text-to-text", model="{repo_id}", trust_remote_code=True)
messages = [{{"role": "user", "content": [{{"type": "image", "path": "face.jpg"}},
                                         {{"type": "text", "text": "{QUESTION}"}}]}}]
print(pipe(text=messages, max_new_tokens=96, return_full_text=False)[0]["generated_text"])
```'''


def _tested_versions() -> str:
    found = []
    for name in TESTED_PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def _results_section(results: dict) -> str:
    threshold = results["threshold"]
    operating = (f"The operating threshold **{threshold:.6g}** was chosen on a dev split ({results['threshold_source']}) "
                 "and applied unchanged to every target." if threshold is not None else
                 "No dev threshold was recorded, so HTER/APCER/BPCER/ACER at an operating point are not reported.")
    parts = [
        "## Evaluation results",
        f"Protocol: {results['protocol'] or '–'}; {results['level']}-level scores. {operating} "
        "Scores are P(live); a face is accepted as live when score >= threshold. **HTER** uses that dev-chosen "
        "threshold. **Oracle HTER** uses each target's own EER threshold (test-set threshold, the FLIP/SAFAS "
        "convention) and is shown only for comparison with papers that report it; it overstates deployable performance.",
        paper_table_markdown(results),
        "<details><summary>All metrics (%): EER, ISO/IEC 30107-3 APCER/BPCER/ACER, TPR@FPR</summary>\n\n"
        + full_table_markdown(results) + "\n\n" + apcer_table_markdown(results) + "\n\n</details>",
        "The full numbers are in `results.json` in this repository.",
    ]
    return "\n\n".join(parts)


LIMITATIONS = """## Intended use

Research on face presentation attack detection (PAD) and a component of a liveness check in face verification
pipelines, where its Yes/No judgment and explanation support a human or a larger decision system.
Out of scope: identifying people, surveillance, and deciding alone on access to anything of value.

## Limitations and risks (this is a security component)

- **Threshold calibration.** P(live) is not a calibrated probability across cameras and populations. The threshold
  above comes from the training-side dev split; re-choose it on dev data from your own sensors and users at the
  APCER/BPCER trade-off your application needs, and monitor it. Oracle numbers use test-set thresholds and are
  not achievable in deployment.
- **Domain shift, sensor and demographic bias.** Cross-dataset HTER varies widely between targets (see the table).
  Public FAS corpora over-represent some capture devices, lighting conditions, ages and skin tones; measure error
  rates per group on your own data before use.
- **Unseen attacks.** Attack types absent from training (high-fidelity 3D masks, partial attacks, makeup, digital
  injection of camera streams, deepfakes) may pass. Injection attacks bypass a camera-based check entirely.
- **Not a sole defence.** Combine with device and camera integrity checks, injection-attack detection, challenge-response
  or multi-frame liveness, rate limiting and human review.
- **Typographic and prompt attacks.** The model reads text in the image: printed or on-screen words ("real person",
  "live") or adversarial patterns can sway the judgment; the question is fixed, do not let users change it.
- **Explanations can be wrong.** The generated explanation is a rationale, not evidence; it may not match the score
  and may hallucinate artefacts. Decide on the score, not the text.
- **Privacy.** Face images are biometric data: process them lawfully, with consent, and do not retain them
  longer than needed."""


def render_model_card(
    results: dict,
    *,
    repo_id: str,
    license: str = "apache-2.0",
    datasets: Sequence[str] = (),
    base_model: str | Sequence[str] | None = None,
    tags: Sequence[str] = (),
) -> str:
    """The README.md text: YAML metadata, summary, results tables, usage, intended use and limits, citation."""
    data = ModelCardData(
        license=license,
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        datasets=list(datasets) or None,
        metrics=["hter", "auc"],
        tags=list(dict.fromkeys([*DEFAULT_TAGS, *tags])),
        base_model=base_model,
    )
    name = repo_id.split("/")[-1]
    body = "\n\n".join([
        f"# {name}",
        "An I-FAS (Interpretable Face Anti-Spoofing, Zhang et al., AAAI 2025) model: a multimodal LLM that answers "
        f'"{QUESTION}" with "Yes" or "No" first, then explains the cues it used. The probability of "Yes" at the '
        "first answer token is the liveness score P(live).",
        _results_section(results),
        "## Usage\n\nThe modelling code ships with the checkpoint (`trust_remote_code=True`).\n\n"
        + _usage(repo_id, results["threshold"]),
        f"Tested with: {_tested_versions()}.",
        LIMITATIONS,
        "## Citation\n\n```bibtex\n" + CITATION + "\n```",
    ])
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n"))


def write_model_card(folder: str | Path, results: dict, **card_kwargs) -> Path:
    """Render the card into ``folder/README.md`` (overwriting it) and return the path."""
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(results, **card_kwargs), encoding="utf-8")
    return path
