"""The Gradio app: what it shows for an image (crop, box, P(live) bar, decision, explanation) and a video, served on
127.0.0.1 and called with gradio_client, offline."""

import copy
import os
import socket

import numpy as np
import pytest
from PIL import Image

from app import BOX_COLOUR, analyze_image, analyze_video, probability_bar
from tiny_inputs import random_image


def test_bar_marks_the_threshold_and_colours_the_decision():
    bar = np.asarray(probability_bar(0.3, 0.6, (100, 8)))
    assert (bar[4, 10] == (207, 34, 46)).all() and (bar[4, 40] == (230, 230, 230)).all()  # red to 0.3, then empty
    assert (bar[4, 59] == 0).all() and (bar[4, 60] == 0).all()  # the threshold tick at 0.6
    assert (np.asarray(probability_bar(None, 0.6, (100, 8)))[4, 10] == (230, 230, 230)).all()


def test_image_is_shown_with_its_box_crop_and_decision(tiny_model_and_processor):
    from faces_ifas import DEFAULT_FACE_CROP, find_face

    from skimage import data as skimage_data
    model, plain = tiny_model_and_processor
    processor = copy.deepcopy(plain)
    processor.face_crop = dict(DEFAULT_FACE_CROP)
    image = Image.fromarray(skimage_data.astronaut())
    shown = analyze_image(model, processor, image, max_new_tokens=2)
    face = find_face(image, DEFAULT_FACE_CROP)
    answer = model.judge(plain, [face.image], max_new_tokens=2)[0]
    assert shown.p_live == pytest.approx(answer["p_live"]) and shown.explanation == answer["explanation"]
    assert shown.decision.startswith("live (Yes)" if answer["is_live"] else "spoof (No)")
    assert np.array_equal(np.asarray(shown.crop), np.asarray(face.image))
    assert shown.heatmap.size == face.image.size  # the judgment heat map over the crop, shown beside it
    share = model.judge(processor, [image], max_new_tokens=2, heatmap=True)[0]["heatmap_share"]
    assert shown.heatmap_note.startswith(f"The map shows {100 * share:.1f} % of the evidence for this decision")
    x1, y1, _, y2 = (round(v) for v in shown.face_box)
    assert tuple(shown.annotated.getpixel((x1, (y1 + y2) // 2))) == BOX_COLOUR
    blank = analyze_image(model, processor, Image.new("RGB", (200, 200), (120, 120, 120)))
    assert blank.decision == "not live: no face found" and blank.p_live is None and blank.crop is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_app_served_on_localhost_answers_gradio_client(tiny_model_and_processor, tmp_path):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no usage reporting
    import gradio_client
    from app import build_app
    from test_evaluate_fas import write_video

    model, processor = tiny_model_and_processor
    image_path = tmp_path / "face.png"
    random_image(5, size=(48, 48)).save(image_path)
    video_path = tmp_path / "clip.avi"
    write_video(video_path)
    expected = analyze_image(model, processor, Image.open(image_path), max_new_tokens=48)
    expected_video = analyze_video(model, processor, video_path)
    port = free_port()
    app = build_app(model, processor)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        annotated, crop, bar, decision, explanation, heatmap, note = client.predict(
            gradio_client.handle_file(str(image_path)), api_name="/image")
        assert decision == expected.decision and explanation == expected.explanation and note == expected.heatmap_note
        assert Image.open(crop).size == (48, 48)  # the tiny model feeds whole images
        assert np.array_equal(np.asarray(Image.open(heatmap).convert("RGB")), np.asarray(expected.heatmap))
        assert np.array_equal(np.asarray(Image.open(bar).convert("RGB")), np.asarray(expected.bar))
        outputs = client.predict(gradio_client.handle_file(str(video_path)), api_name="/video")
        assert outputs[3] == expected_video.decision and outputs[4] == expected_video.explanation
    finally:
        app.close()


def saturated_checkpoint(folder, p_live: float, face_crop=None) -> str:
    """A tiny checkpoint whose P(live) is exactly `p_live` (0.0 or 1.0) for every image: the LM layers add nothing to
    the residual stream, so the last prompt position holds a fixed vector h, and the judgment rows of the (tied)
    LM head differ by 800 h / |h|^2, a logit gap of 800 (sigmoid(-800) is 0 even in float64, where P(live) is
    computed)."""
    import torch

    from ifas.model_builders import save_checkpoint, tiny_ifas

    model, processor = tiny_ifas("dinov2", seed=1)
    processor.face_crop = face_crop
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        inputs = processor.prepare_inputs([random_image(0, size=(32, 32))], crop_faces=False)
        hidden = model.model(**inputs)["last_hidden_state"][0, -1]
        live_id, spoof_id = model.judgment_token_ids()
        sign = 1.0 if p_live == 1.0 else -1.0
        head = model.get_output_embeddings().weight
        head[live_id] = head[spoof_id] + sign * 800.0 * hidden / hidden.dot(hidden)
    assert model.score(processor, [random_image(1, size=(40, 40))], crop_faces=False).item() == p_live
    return save_checkpoint(model, processor, str(folder))


def start_app(checkpoint, tmp_path):
    """`python app.py --checkpoint CKPT --port PORT` as a user starts it; returns (process, gradio_client.Client)."""
    import subprocess
    import sys
    import time

    import gradio_client

    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    log = open(tmp_path / "app.log", "w")
    process = subprocess.Popen([sys.executable, "app.py", "--checkpoint", str(checkpoint), "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env,
                               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    deadline = time.monotonic() + 600  # a start-up guard, not a timing assertion
    while True:
        try:
            return process, gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        except Exception:  # not listening yet
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError((tmp_path / "app.log").read_text()) from None
            time.sleep(1)


def test_app_as_a_user_starts_it_judges_refuses_and_shows_p_live_zero(tmp_path):
    """app.py in a subprocess on 127.0.0.1 with a confident-spoof checkpoint that crops faces, called with
    gradio_client: a face photo, a photo without a face, an unreadable file and a JPEG with a corrupt scan."""
    import gradio_client
    from skimage import data as skimage_data

    from faces_ifas import DEFAULT_FACE_CROP
    from test_fail_closed import flip_scan_bytes, natural_jpeg

    checkpoint = saturated_checkpoint(tmp_path / "spoof", 0.0, dict(DEFAULT_FACE_CROP))
    face = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(face)
    blank = tmp_path / "wall.png"
    Image.new("RGB", (120, 90), (120, 120, 120)).save(blank)
    unreadable = tmp_path / "notes.jpg"
    unreadable.write_text("these are notes, not an image")
    corrupt = tmp_path / "scan.jpg"
    corrupt.write_bytes(flip_scan_bytes(natural_jpeg()))
    process, client = start_app(checkpoint, tmp_path)
    try:
        annotated, crop, bar, decision, explanation, heatmap, note = client.predict(
            gradio_client.handle_file(str(face)), api_name="/image")
        assert decision == "spoof (No): P(live) = 0.000 < threshold 0.500" and isinstance(explanation, str)
        assert Image.open(annotated).size == (512, 512) and Image.open(crop).size == (224, 224)
        assert Image.open(heatmap).size == (224, 224)
        bar = np.asarray(Image.open(bar).convert("RGB"))
        assert (bar[:, :239] == (230, 230, 230)).all()  # P(live) = 0: an empty bar, the tick at 0.5
        assert (bar[:, 239:241] == 0).all()
        outputs = client.predict(gradio_client.handle_file(str(blank)), api_name="/image")
        assert outputs[3] == "not live: no face found" and outputs[1] is None
        for path, message in ((unreadable, r"notes\.jpg'?: not an image file"),
                              (corrupt, r"scan\.jpg'?: corrupt or truncated JPEG data")):
            with pytest.raises(Exception, match=message) as raised:
                client.predict(gradio_client.handle_file(str(path)), api_name="/image")
            assert "Traceback" not in str(raised.value)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_app_shows_p_live_one(tmp_path):
    model_path = saturated_checkpoint(tmp_path / "live", 1.0)
    from ifas.evaluation import load_model

    model, processor = load_model(model_path, "cpu", "float32")
    shown = analyze_image(model, processor, random_image(4, size=(48, 48)), max_new_tokens=2)
    assert shown.p_live == 1.0 and shown.decision == "live (Yes): P(live) = 1.000 >= threshold 0.500"
    assert (np.asarray(shown.bar)[:, :239] == (46, 160, 67)).all()  # full bar up to the tick at 0.5
