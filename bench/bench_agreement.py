"""Do the judgment and the explanation agree? Every answer of a checkpoint on the demo's held-out SynthFAS domain and
on real photos, judged by the SCF consistency judge (a live explanation after "No", or a spoof cue after "Yes", is a
disagreement).

    .venv/bin/python bench/bench_agreement.py [--checkpoint outputs/demo/checkpoint]
        [--dataset outputs/demo/synthfas] [--domain synth_d] [--no-write]

The real photos are the two bundled with scikit-image and matplotlib (astronaut, Grace Hopper), each in 12 variants
(crops, flips, brightness, JPEG quality, rotation), judged with the checkpoint's face crop. Writes the "Judgment and
explanation agreement" section of BENCHMARKS.md with every disagreeing answer.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, machine_line, section, write_section  # noqa: E402

from PIL import Image, ImageEnhance, ImageOps  # noqa: E402

from bench_tight_crops import bundled_photos  # noqa: E402
from datasets_scripts.scf.consistency import judge_answer  # noqa: E402
from datasets_scripts.synthfas import leave_one_domain_out  # noqa: E402
from modeling_ifas import IFASForConditionalGeneration  # noqa: E402
from processing_ifas import IFASProcessor  # noqa: E402


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def photo_variants(photo: Image.Image) -> list[Image.Image]:
    """12 everyday variants of a real photo: as is, mirrored, darker, brighter, two JPEG qualities, two zooms,
    small rotations, half size, grey."""
    width, height = photo.size
    return [
        photo, ImageOps.mirror(photo), ImageEnhance.Brightness(photo).enhance(0.6),
        ImageEnhance.Brightness(photo).enhance(1.3), jpeg(photo, 30), jpeg(photo, 70),
        photo.crop((width // 10, height // 10, width - width // 10, height - height // 10)),
        photo.crop((0, 0, width * 3 // 4, height)), photo.rotate(8, expand=True), photo.rotate(-8, expand=True),
        photo.resize((width // 2, height // 2)), ImageOps.grayscale(photo).convert("RGB"),
    ]


def judged(model, processor, images, labels, attack_types, crop_faces: bool, source: str) -> list[dict]:
    """Each answer as `judge` gives it, and without its contradiction constraint (`consistent=False`)."""
    answers = model.judge(processor, images, batch_size=16, crop_faces=crop_faces)
    free = model.judge(processor, images, batch_size=16, crop_faces=crop_faces, consistent=False)
    rows = []
    for index, (answer, unconstrained, label, attack) in enumerate(zip(answers, free, labels, attack_types)):
        if answer["error"]:
            rows.append({"source": source, "index": index, "error": answer["error"]})
            continue
        verdict = judge_answer(f"{answer['judgment']}. {answer['explanation']}", label, attack)
        free_verdict = judge_answer(f"{unconstrained['judgment']}. {unconstrained['explanation']}", label, attack)
        rows.append({"source": source, "index": index, "label": label, "attack_type": attack,
                     "judgment": answer["judgment"], "p_live": answer["p_live"], "explanation": answer["explanation"],
                     "agrees": verdict.explanation_consistent, "conflicts": list(verdict.conflicts),
                     "free_explanation": unconstrained["explanation"],
                     "free_agrees": free_verdict.explanation_consistent})
    return rows


def rate(rows: list[dict], key: str = "agrees") -> str:
    answered = [row for row in rows if key in row]
    agreeing = sum(row[key] for row in answered)
    return f"{agreeing} / {len(answered)} ({100 * agreeing / max(1, len(answered)):.1f} %)"


def markdown(rows: list[dict], command: str, checkpoint: str, domain: str) -> str:
    held_out = [row for row in rows if row["source"] == domain]
    photos = [row for row in rows if row["source"] == "photos"]
    lines = [
        f"`{command}` on {machine_line()}; checkpoint `{checkpoint}`. Every answer (48 new tokens) judged by the SCF "
        "consistency judge (`datasets_scripts.scf.consistency.judge_answer`): a live explanation after \"No\" or a "
        "spoof cue after \"Yes\" is a disagreement. `judge` decodes the explanation so that it cannot write "
        "`config.contradicting_phrases` of the other side (the judge's live claims after \"No\", attack-family "
        "names after \"Yes\"); the last column decodes without that constraint.", "",
        "| inputs | answers agreeing with their judgment (`judge`) | without the contradiction constraint |",
        "|---|---|---|",
        f"| held-out domain `{domain}` (every image) | {rate(held_out)} | {rate(held_out, 'free_agrees')} |",
        f"| real photos (2 photos x 12 variants, face crop) | {rate(photos)} | {rate(photos, 'free_agrees')} |",
        f"| all | {rate(rows)} | {rate(rows, 'free_agrees')} |", "",
    ]
    steered = [row for row in rows if "agrees" in row and row["explanation"] != row["free_explanation"]]
    lines.append(f"The constraint changed {len(steered)} explanations, e.g.:")
    lines += [f"- {row['source']} #{row['index']} (truth {row['attack_type']}, {row['judgment']}, P(live) "
              f"{row['p_live']:.6f}): \"{row['free_explanation']}\" -> \"{row['explanation']}\""
              for row in steered[:6]]
    lines.append("")
    disagreeing = [row for row in rows if row.get("agrees") is False]
    lines.append(f"Disagreements ({len(disagreeing)}):" if disagreeing else "No disagreement.")
    lines += [f"- {row['source']} #{row['index']} (truth {row['attack_type']}): {row['judgment']}, P(live) "
              f"{row['p_live']:.3f}: {row['explanation']} (conflicts: {', '.join(row['conflicts'])})"
              for row in disagreeing]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "outputs/demo/checkpoint"))
    parser.add_argument("--dataset", default=str(ROOT / "outputs/demo/synthfas"))
    parser.add_argument("--domain", default="synth_d")
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args(argv)
    model = IFASForConditionalGeneration.from_pretrained(args.checkpoint).eval()
    processor = IFASProcessor.from_pretrained(args.checkpoint, trust_remote_code=True)
    _, _, test = leave_one_domain_out(args.dataset, args.domain)  # every row of the held-out domain
    rows = judged(model, processor, list(test["image"]), test["label"], test["attack_type"], False, args.domain)
    photos = [variant for photo in bundled_photos() for variant in photo_variants(photo)]
    rows += judged(model, processor, photos, [0] * len(photos), ["none"] * len(photos), True, "photos")
    command = "bench/bench_agreement.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = markdown(rows, command.strip(), args.checkpoint, args.domain)
    print(body)
    if args.write:
        write_section(section("Judgment and explanation agreement", body))
    return rows


if __name__ == "__main__":
    main()
