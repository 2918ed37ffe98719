"""Gradio app (a Hub Space's ``app.py``): upload or film a face, see the crop the model judged with its box, P(live)
as a bar against the threshold, the decision and the explanation, and for images the heat map of the evidence for
the decision beside the crop (`heatmap_ifas`); videos are judged as `ifas.evaluation.judge_video`.

    pip install -e ".[app]"
    python app.py --checkpoint outputs/demo/checkpoint --port 7860     # http://127.0.0.1:7860

The checkpoint is a local folder or a Hub id (the demo checkpoint by default); the decision uses its calibrated
threshold (``config.threshold``, 0.5 while uncalibrated). An uploaded file goes to `image_io_ifas.load_image` as it
was uploaded (its bytes, never a copy decoded by the browser or by gradio), so an unreadable or corrupt file is
refused with the reason, as everywhere else. The analysis functions work without gradio:

    >>> shown = analyze_image(model, processor, "face.jpg")  # doctest: +SKIP
    >>> shown.decision, shown.p_live, shown.face_box  # doctest: +SKIP
    ('live (Yes)', 0.93, [181.1, 62.2, 267.7, 172.1])
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

DEFAULT_CHECKPOINT = "outputs/demo/checkpoint"
BAR_SIZE = (480, 64)
BOX_COLOUR = (255, 200, 0)


@dataclass
class Shown:
    """What the app shows for one input."""

    annotated: Image.Image | None  # the input (or the decisive video frame) with the face box drawn
    crop: Image.Image | None  # what the model saw
    bar: Image.Image  # P(live) against the threshold
    decision: str
    explanation: str
    p_live: float | None
    face_box: list[float] | None
    heatmap: Image.Image | None = None  # the crop with the judgment heat map over it (images only)
    heatmap_note: str = ""  # how much of the decision's evidence the map shows (`heatmap_ifas.evidence_share`)


def heatmap_note(share: float) -> str:
    """What the judgment map's evidence share means for the user.

    >>> heatmap_note(2e-9).split(":")[0]
    'The map shows 0.0 % of the evidence for this decision'
    """
    note = f"The map shows {100 * share:.1f} % of the evidence for this decision"
    if share < 0.05:
        return note + ": the rest came through the global image tokens, so the map is not where the model looked."
    return note + " (the rest came through the global image tokens)."


def draw_box(image: Image.Image, box) -> Image.Image:
    """A copy of `image` with `box` (x1, y1, x2, y2) outlined; unchanged copy when `box` is None."""
    annotated = image.convert("RGB").copy()
    if box is not None:
        width = max(2, round(max(annotated.size) / 150))
        ImageDraw.Draw(annotated).rectangle([float(v) for v in box], outline=BOX_COLOUR, width=width)
    return annotated


def probability_bar(p_live: float | None, threshold: float, size: tuple[int, int] = BAR_SIZE) -> Image.Image:
    """A horizontal bar filled to `p_live` (green at or above `threshold`, red below; grey and empty when None)
    with a black tick at `threshold`.

    >>> bar = probability_bar(0.75, 0.5, (100, 10))
    >>> bar.getpixel((70, 5)), bar.getpixel((80, 5)), bar.getpixel((50, 5))
    ((46, 160, 67), (230, 230, 230), (0, 0, 0))
    """
    width, height = size
    bar = Image.new("RGB", size, (230, 230, 230))
    draw = ImageDraw.Draw(bar)
    if p_live is not None and round(p_live * width) >= 1:  # P(live) = 0 (a confident spoof) leaves the bar empty
        colour = (46, 160, 67) if p_live >= threshold else (207, 34, 46)
        draw.rectangle([0, 0, round(p_live * width) - 1, height - 1], fill=colour)
    tick = min(round(threshold * width), width - 1)
    draw.rectangle([tick - 1, 0, tick, height - 1], fill=(0, 0, 0))
    return bar


def _decision(model, is_live: bool, p_live: float | None, error: str | None) -> str:
    live_word, spoof_word = model.config.judgment_words
    threshold = model.decision_threshold()
    if error:
        return f"not live: {error}"
    word, verdict = (live_word, "live") if is_live else (spoof_word, "spoof")
    return f"{verdict} ({word}): P(live) = {p_live:.3f} {'>=' if is_live else '<'} threshold {threshold:.3f}"


def analyze_image(model, processor, image, max_new_tokens: int = 48) -> Shown:
    """Decode `image` (a path, bytes or PIL image) strictly, crop the face as the checkpoint expects, judge it and
    explain; no face is shown as "not live". Raises `ValueError` naming an unreadable input."""
    from processing_ifas import load_image

    image = load_image(image)  # a large photo comes back reduced; face boxes are in the original's pixels
    face = processor.detect_faces([image], strict=False)[0]
    threshold = model.decision_threshold()
    if face.image is None:
        return Shown(image, None, probability_bar(None, threshold), _decision(model, False, None, face.error), "",
                     None, None)
    from heatmap_ifas import overlay

    answer = model.judge(processor, [face.image], max_new_tokens=max_new_tokens, crop_faces=False, heatmap=True)[0]
    box = None if face.box is None else [float(v) for v in face.box]
    shown_box = None if box is None else [v / image.info.get("ifas_reduction", 1) for v in box]
    return Shown(draw_box(image, shown_box), face.image, probability_bar(answer["p_live"], threshold),
                 _decision(model, answer["is_live"], answer["p_live"], None), answer["explanation"], answer["p_live"],
                 box, overlay(face.image, answer["heatmap"], answer["heatmap_box"]),
                 heatmap_note(answer["heatmap_share"]))


def analyze_video(model, processor, path: str | Path, frames: str = "flip", max_new_tokens: int = 48) -> Shown:
    """Judge a video (`ifas.evaluation.judge_video`) and show its decisive frame with the face box."""
    from datasets_scripts.video import iter_frames
    from ifas.evaluation import judge_video

    verdict = judge_video(model, processor, path, frames, max_new_tokens)
    threshold = model.decision_threshold()
    if verdict["error"]:
        return Shown(None, None, probability_bar(None, threshold), _decision(model, False, None, verdict["error"]),
                     "", None, None)
    _, frame = next(iter(iter_frames(path, str(verdict["decisive_frame"]))))
    face = processor.detect_faces([frame], strict=False)[0]
    return Shown(draw_box(frame, verdict["face_box"]), face.image, probability_bar(verdict["p_live"], threshold),
                 _decision(model, verdict["is_live"], verdict["p_live"], None), verdict["explanation"] or "",
                 verdict["p_live"], verdict["face_box"])


def build_app(model, processor, title: str = "I-FAS face anti-spoofing"):
    """The gradio Blocks: an image tab (upload or webcam) and a video tab; API names ``/image`` and ``/video``."""
    import gradio as gr

    class UploadedImage(gr.Image):
        """`gr.Image` handing over the uploaded file's path untouched (gradio would open it with plain Pillow)."""

        def preprocess(self, payload):
            if payload is None or payload.path is None:
                return super().preprocess(payload)
            return payload.path

    def outputs(shown: Shown):
        return (shown.annotated, shown.crop, shown.bar, shown.decision, shown.explanation, shown.heatmap,
                shown.heatmap_note)

    def on_image(image):
        if image is None:
            raise gr.Error("give an image")
        try:
            return outputs(analyze_image(model, processor, image))
        except ValueError as error:
            raise gr.Error(str(error)) from None

    def on_video(path):
        if not path:
            raise gr.Error("give a video")
        try:
            return outputs(analyze_video(model, processor, path))
        except ValueError as error:
            raise gr.Error(str(error)) from None

    with gr.Blocks(title=title) as app:
        gr.Markdown(f"# {title}\nThe model answers *Is this photo of a real person?* on the face crop, decides at "
                    f"P(live) >= {model.decision_threshold():.3f} and explains its answer.")
        with gr.Row():
            with gr.Column():
                with gr.Tab("Image"):
                    image_in = UploadedImage(sources=["upload", "webcam"], type="filepath", label="Image")
                    image_button = gr.Button("Analyze image", variant="primary")
                with gr.Tab("Video"):
                    video_in = gr.Video(sources=["upload", "webcam"], label="Video")
                    video_button = gr.Button("Analyze video", variant="primary")
            with gr.Column():
                annotated = gr.Image(type="pil", format="png", label="Face box (decisive frame for a video)")
                with gr.Row():
                    crop = gr.Image(type="pil", format="png", label="What the model saw")
                    heatmap = gr.Image(type="pil", format="png", label="Evidence for the decision (heat map)")
                bar = gr.Image(type="pil", format="png", label="P(live); the black tick is the threshold")
                decision = gr.Textbox(label="Decision")
                explanation = gr.Textbox(label="Explanation", lines=3)
                note = gr.Textbox(label="What the heat map shows")
        shown = [annotated, crop, bar, decision, explanation, heatmap, note]
        image_button.click(on_image, image_in, shown, api_name="image")
        video_button.click(on_video, video_in, shown, api_name="video")
    return app


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="checkpoint folder or Hub id")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    from ifas.evaluation import load_model

    model, processor = load_model(args.checkpoint, args.device, "float32")
    build_app(model, processor).launch(server_name=args.host, server_port=args.port, share=False)


if __name__ == "__main__":
    from ifas.cli.errors import run_cli

    raise SystemExit(run_cli(main))
