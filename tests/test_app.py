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

    skimage_data = pytest.importorskip("skimage.data")
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
    pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
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
        annotated, crop, bar, decision, explanation, heatmap = client.predict(
            gradio_client.handle_file(str(image_path)), api_name="/image")
        assert decision == expected.decision and explanation == expected.explanation
        assert Image.open(crop).size == (48, 48)  # the tiny model feeds whole images
        assert np.array_equal(np.asarray(Image.open(heatmap).convert("RGB")), np.asarray(expected.heatmap))
        assert np.array_equal(np.asarray(Image.open(bar).convert("RGB")), np.asarray(expected.bar))
        outputs = client.predict(gradio_client.handle_file(str(video_path)), api_name="/video")
        assert outputs[3] == expected_video.decision and outputs[4] == expected_video.explanation
    finally:
        app.close()
