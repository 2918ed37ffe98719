"""Face crop at inference by the builders' rule (`faces_ifas`): real photos from registry packages, no-face and
two-face images, the processor's `face_crop` setting, and `score`/`judge` applying it."""

import copy
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from faces_ifas import DEFAULT_FACE_CROP, NO_FACE, check_face_crop, find_face

skimage_data = pytest.importorskip("skimage.data")
cbook = pytest.importorskip("matplotlib.cbook")
if importlib.util.find_spec("facenet_pytorch") is None:  # it cannot be imported plainly: faces_ifas.load_mtcnn
    pytest.skip("facenet-pytorch is not installed", allow_module_level=True)

# MTCNN boxes (x1, y1, x2, y2) of the two photos, read off once and rounded to 10 px.
ASTRONAUT_BOX = (180, 60, 270, 170)
GRACE_HOPPER_BOX = (170, 120, 360, 340)


def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


def two_faces() -> Image.Image:
    """The astronaut's face pasted twice: small on the left, 2x larger on the right."""
    face = astronaut().crop((150, 30, 300, 210))
    canvas = Image.new("RGB", (700, 400), (90, 120, 150))
    canvas.paste(face, (20, 100))
    canvas.paste(face.resize((300, 360)), (350, 20))
    return canvas


def reference_crop(image: Image.Image, box, scale: float, size: int) -> Image.Image:
    """The builders' crop written out: a square of side scale * max(w, h) on the box centre, zero outside."""
    x1, y1, x2, y2 = box
    side = scale * max(x2 - x1, y2 - y1)
    left, top = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
    n = round(side)
    array = np.asarray(image.convert("RGB"))
    out = np.zeros((n, n, 3), dtype=np.uint8)
    ys, xs = slice(max(top, 0), min(top + n, array.shape[0])), slice(max(left, 0), min(left + n, array.shape[1]))
    out[ys.start - top: ys.stop - top, xs.start - left: xs.stop - left] = array[ys, xs]
    return Image.fromarray(out).resize((size, size), Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def cropping(tiny_model_and_processor):
    """The tiny model with a copy of its processor that crops faces like a real checkpoint."""
    model, processor = tiny_model_and_processor
    cropping = copy.deepcopy(processor)
    cropping.face_crop = check_face_crop(DEFAULT_FACE_CROP)
    return model, processor, cropping


def assert_near(box, expected, tolerance=10):
    assert np.abs(np.asarray(box) - np.asarray(expected)).max() <= tolerance, box


def test_real_photos_crop_the_face_by_the_builders_rule():
    image = astronaut()
    face = find_face(image, DEFAULT_FACE_CROP)
    assert_near(face.box, ASTRONAUT_BOX) and face.num_faces == 1 and face.error is None
    assert np.array_equal(np.asarray(face.image), np.asarray(reference_crop(image, face.box, 1.3, 224)))
    hopper = Image.open(cbook.get_sample_data("grace_hopper.jpg"))
    face = find_face(hopper, {"detector": "mtcnn", "scale": 1.0, "size": 64})
    assert_near(face.box, GRACE_HOPPER_BOX) and face.num_faces == 1
    assert np.array_equal(np.asarray(face.image), np.asarray(reference_crop(hopper, face.box, 1.0, 64)))


def test_two_faces_take_the_largest_and_report_the_count():
    face = find_face(two_faces(), DEFAULT_FACE_CROP)
    assert face.num_faces == 2
    x1, y1, x2, y2 = face.box
    assert x1 > 350 and x2 < 650  # the 300 x 360 paste on the right, not the 150 x 180 one
    assert_near(face.box, (410, 80, 590, 310))


def test_no_face_is_a_clear_result_or_a_named_error(cropping, tmp_path):
    model, _, processor = cropping
    blank = tmp_path / "wall.png"
    Image.new("RGB", (300, 200), (128, 128, 128)).save(blank)
    with pytest.raises(ValueError, match=f"image file '{blank}': no face found"):
        processor.detect_faces([str(blank)])
    with pytest.raises(ValueError, match="wall.png': no face found"):
        model.score(processor, [str(blank)])
    face = processor.detect_faces([str(blank)], strict=False)[0]
    assert face.image is None and face.num_faces == 0 and face.error == NO_FACE
    scores = model.score(processor, [str(blank), astronaut()], strict=False)
    assert torch.isnan(scores[0]) and not bool(scores[0] >= 0.0) and 0.0 <= scores[1].item() <= 1.0
    results = model.judge(processor, [str(blank), two_faces()], max_new_tokens=1)
    assert results[0] == {"judgment": None, "is_live": False, "p_live": None, "margin": None, "explanation": "",
                          "face_box": None, "num_faces": 0, "error": NO_FACE}
    assert results[1]["num_faces"] == 2 and results[1]["error"] is None and results[1]["face_box"][0] > 350
    with pytest.raises(ValueError, match="no face found"):
        model.judge(processor, [str(blank)], max_new_tokens=1, strict=True)


def test_score_judge_and_processor_apply_the_crop(cropping):
    model, plain, processor = cropping
    image = astronaut()
    crop = find_face(image, DEFAULT_FACE_CROP).image
    expected = model.score(plain, [crop])
    torch.testing.assert_close(model.score(processor, [image]), expected)
    torch.testing.assert_close(model.score(processor, [crop], crop_faces=False), expected)
    answer = model.judge(processor, [image], max_new_tokens=1)[0]
    assert answer["p_live"] == pytest.approx(expected.item(), abs=1e-6) and answer["num_faces"] == 1
    assert_near(answer["face_box"], ASTRONAUT_BOX)
    # __call__ (the pipeline's path) crops too, and pre-cropped inputs can opt out.
    prompt = processor.build_prompt()
    torch.testing.assert_close(processor(images=[image], text=prompt, return_tensors="pt")["pixel_values"],
                               plain(images=[crop], text=prompt, return_tensors="pt")["pixel_values"])
    torch.testing.assert_close(processor(images=[crop], text=prompt, return_tensors="pt", crop_faces=False)[
        "pixel_values"], plain(images=[crop], text=prompt, return_tensors="pt")["pixel_values"])
    # A tiny test model feeds whole images: no box, no count.
    whole = model.judge(plain, [image], max_new_tokens=1)[0]
    assert whole["face_box"] is None and whole["num_faces"] is None and whole["error"] is None


def test_face_crop_is_saved_with_the_processor_and_validated(cropping, tmp_path):
    _, plain, processor = cropping
    assert plain.face_crop is None
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["face_crop"] == {"detector": "mtcnn", "scale": 1.3, "size": 224}
    assert type(processor).from_pretrained(tmp_path).face_crop == saved["face_crop"]
    assert (tmp_path / "faces_ifas.py").is_file()  # shipped with the remote code
    with pytest.raises(ValueError, match="detector 'dlib' is not one of"):
        check_face_crop({"detector": "dlib"})
    with pytest.raises(ValueError, match="scale must be a positive number"):
        check_face_crop({"scale": 0})
    with pytest.raises(ValueError, match="unknown keys \\['margin'\\]"):
        check_face_crop({"margin": 3})


def test_remote_code_does_not_need_facenet_pytorch(tmp_path):
    """The trio imports without facenet-pytorch; only a face crop needs it, and then the error says how to get it."""
    script = (
        "import sys; sys.modules['facenet_pytorch'] = None\n"
        "from transformers.dynamic_module_utils import get_imports\n"
        "assert 'facenet_pytorch' not in get_imports('faces_ifas.py'), get_imports('faces_ifas.py')\n"
        "import processing_ifas, modeling_ifas\n"
        "from PIL import Image\n"
        "from faces_ifas import find_face, DEFAULT_FACE_CROP\n"
        "assert find_face(Image.new('RGB', (8, 8)), None).image.size == (8, 8)\n"
        "try:\n"
        "    find_face(Image.new('RGB', (8, 8)), DEFAULT_FACE_CROP)\n"
        "except ImportError as error:\n"
        "    print('ERROR', error)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "needs facenet-pytorch: pip install --no-deps facenet-pytorch==2.6.0" in run.stdout


def test_video_frames_are_cropped_and_frames_without_a_face_left_out(cropping, tmp_path):
    import av

    from ifas.evaluation import judge_video

    model, plain, processor = cropping
    face = astronaut().resize((256, 256))
    frames = [np.asarray(face) if i < 10 else np.full((256, 256, 3), 128, np.uint8) for i in range(20)]
    path = tmp_path / "clip.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width = stream.height = 256
        stream.pix_fmt = "yuvj420p"
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())
    verdict = judge_video(model, processor, path, explain=False)
    assert verdict["frame_indices"] == [6, 16] and verdict["frames_without_face"] == [16]
    assert verdict["frame_p_live"][1] is None and verdict["p_live"] == verdict["frame_p_live"][0]
    assert verdict["decisive_frame"] == 6 and verdict["num_faces"] == 1 and verdict["explanation"] is None
    assert_near(verdict["face_box"], [v / 2 for v in ASTRONAUT_BOX])  # the frame is the photo at half size
    blank = tmp_path / "wall.avi"
    with av.open(str(blank), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuvj420p"
        for _ in range(20):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 99, np.uint8), format="rgb24")))
        container.mux(stream.encode())
    verdict = judge_video(model, processor, blank)
    assert verdict["error"] == "no face found in any of the 2 sampled frames"
    assert verdict["p_live"] is None and verdict["is_live"] is False and verdict["judgment"] is None


def face_box_in_crop(box, scale: float, size: int):
    """Where `box` lands in `square_crop(image, box, scale, size)`, written out from the crop rule."""
    x1, y1, x2, y2 = box
    side = scale * max(x2 - x1, y2 - y1)
    left, top = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
    factor = size / round(side)
    return [(x1 - left) * factor, (y1 - top) * factor, (x2 - left) * factor, (y2 - top) * factor]


def test_faces_that_fill_the_frame_are_found_on_a_padded_canvas():
    from faces_ifas import get_detector, square_crop

    detector = get_detector("mtcnn")
    for photo in (astronaut(), Image.open(cbook.get_sample_data("grace_hopper.jpg"))):
        box = find_face(photo, DEFAULT_FACE_CROP).box
        crop = square_crop(photo, box, 0.6, 64)  # tighter than the detector's box: MTCNN alone misses the face
        assert detector._detect(crop) == []
        face = find_face(crop, DEFAULT_FACE_CROP)
        assert face.num_faces == 1 and face.image.size == (224, 224)
        x1, y1, x2, y2 = face.box  # in the crop's pixels: around the face, which reaches past the crop's border
        e1, f1, e2, f2 = face_box_in_crop(box, 0.6, 64)
        assert x1 < (e1 + e2) / 2 < x2 and y1 < (f1 + f2) / 2 < y2 and 0.8 < (x2 - x1) / (e2 - e1) < 2.5, face.box
        for scale, size in ((1.0, 400), (1.3, 64)):  # the builders' rule itself
            x1, y1, x2, y2 = find_face(square_crop(photo, box, scale, size), DEFAULT_FACE_CROP).box
            e1, f1, e2, f2 = face_box_in_crop(box, scale, size)
            side = e2 - e1
            assert abs((x1 + x2 - e1 - e2) / 2) < 0.2 * side and abs((y1 + y2 - f1 - f2) / 2) < 0.2 * side
            assert 0.7 < (x2 - x1) / side < 1.4, (scale, size, (x1, y1, x2, y2), (e1, f1, e2, f2))


def test_boxes_found_on_the_padded_canvas_are_mapped_back(monkeypatch):
    from faces_ifas import MtcnnDetector

    detector = MtcnnDetector()
    seen = []

    def fake_mtcnn(image):  # nothing in the 12 x 8 image; one face on its canvas (3 px margin, enlarged 48 / 14 x)
        seen.append(image.size)
        return [] if image.size == (12, 8) else [(30.0, 24.0, 60.0, 48.0)]

    monkeypatch.setattr(detector, "_detect", fake_mtcnn)
    factor = 48 / 14
    expected = [30 / factor - 3, 24 / factor - 3, 60 / factor - 3, 48 / factor - 3]
    assert detector.detect(Image.new("RGB", (12, 8)))[0] == pytest.approx(expected)
    assert seen == [(12, 8), (round(18 * factor), 48)]


def test_face_free_and_tiny_images_give_no_face_or_a_crop_never_a_crash(cropping):
    model, _, processor = cropping
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8))
    ramp = Image.fromarray(np.tile(np.linspace(0, 255, 120, dtype=np.uint8)[:, None, None], (1, 90, 3)))
    for image in (noise, ramp):
        assert find_face(image, DEFAULT_FACE_CROP, strict=False).error == NO_FACE
    tiny = [Image.fromarray(rng.integers(0, 256, (side, 23 - side, 3), dtype=np.uint8)) for side in (8, 12, 15)]
    tiny += [astronaut().crop((165, 45, 285, 185)).resize((side, side)) for side in (8, 13, 19)]
    results = model.judge(processor, [*tiny, astronaut()], max_new_tokens=1, batch_size=7)  # strict=False
    assert len(results) == 7 and results[-1]["error"] is None and results[-1]["num_faces"] == 1
    for result in results[:-1]:
        assert result["error"] in (None, NO_FACE), result
        if result["error"]:
            assert result["p_live"] is None and result["is_live"] is False


def test_an_unreadable_image_in_a_batch_gets_its_own_error_and_the_batch_is_answered(cropping, tmp_path):
    model, _, processor = cropping
    missing, corrupt = tmp_path / "missing.jpg", tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    batch = [str(missing), astronaut(), str(corrupt)]
    results = model.judge(processor, batch, max_new_tokens=1, batch_size=3)  # strict=False
    assert [r["error"] is None for r in results] == [False, True, False]
    for result, name in ((results[0], "missing.jpg"), (results[2], "corrupt.jpg")):
        assert name in result["error"] and result["is_live"] is False and result["p_live"] is None
    assert results[1]["num_faces"] == 1 and 0.0 <= results[1]["p_live"] <= 1.0
    scores = model.score(processor, batch, strict=False)
    assert torch.isnan(scores[0]) and torch.isnan(scores[2]) and 0.0 <= scores[1].item() <= 1.0
    for strict_call in (lambda: model.judge(processor, batch, strict=True), lambda: model.score(processor, batch)):
        with pytest.raises(ValueError, match="missing.jpg"):
            strict_call()
