"""Shared builder stages: frame sampling, rotation, box files, square crop, pure-torch NMS, MTCNN without torchvision."""

import importlib.util
import sys

import numpy as np
import pytest
import torch
from builders_fixtures import BOX, astronaut_face, frame_image, write_face_file, write_oulu_eyes, write_video
from PIL import Image

from datasets_scripts.faces import (
    BoxSource,
    MtcnnDetector,
    batched_nms,
    box_for_frame,
    read_boxes,
    square_crop,
    valid_box,
)
from datasets_scripts.video import count_frames, iter_frames, sample_indices


@pytest.mark.parametrize(
    "n, policy, expected",
    [
        (20, "flip", [6, 16]),
        (101, "flip", [6, 56]),
        (5, "flip", [4]),
        (20, "first_last", [0, 19]),
        (11, "uniform:3", [0, 5, 10]),
        (20, "every:7", [0, 7, 14]),
        (20, "6,3,30", [3, 6, 19]),
        (3, "all", [0, 1, 2]),
        (0, "flip", []),
    ],
)
def test_sample_indices(n, policy, expected):
    assert sample_indices(n, policy) == expected


@pytest.mark.parametrize("policy", ["flip:2", "uniform:0", "every:x", "middle", "6,a"])
def test_bad_frame_policy_is_refused(policy):
    with pytest.raises(ValueError, match="frame policy"):
        sample_indices(10, policy)


def test_iter_frames_decodes_the_sampled_frames(tmp_path):
    video = write_video(tmp_path / "v.avi")
    assert count_frames(video) == 20
    frames = list(iter_frames(video, "flip"))
    assert [i for i, _ in frames] == [6, 16]
    for index, image in frames:
        expected = np.asarray(frame_image(index), dtype=float)
        assert np.abs(np.asarray(image, dtype=float) - expected).mean() < 6


def test_rotation_metadata_is_honoured(tmp_path):
    video = write_video(tmp_path / "android.mp4", rotation=90)
    (_, image), _ = iter_frames(video, "flip")
    upright = np.asarray(frame_image(6).rotate(90, expand=True), dtype=float)
    stored = np.asarray(frame_image(6), dtype=float)
    decoded = np.asarray(image, dtype=float)
    assert np.abs(decoded - upright).mean() < 6 < np.abs(decoded - stored).mean()


def test_corrupt_video_raises_a_decoder_error(tmp_path):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    with pytest.raises((OSError, ValueError)):
        list(iter_frames(broken))


def test_box_files_of_each_format(tmp_path):
    x1, y1, x2, _ = BOX
    xywh = read_boxes(BoxSource(write_face_file(tmp_path / "a.face"), "frame_xywh"), (64, 64))
    xyxy = read_boxes(BoxSource(write_face_file(tmp_path / "b.face", fmt="xyxy", sep=","), "frame_xyxy"), (64, 64))
    assert xywh[7] == xyxy[7] == BOX
    eyes = read_boxes(BoxSource(write_oulu_eyes(tmp_path / "c.txt"), "oulu_eyes"), (64, 64))
    ex1, ey1, ex2, ey2 = eyes[0]
    assert (ex1, ex2) == (x1, x2) and y1 <= ey1 < ey2 and ey2 - ey1 == pytest.approx(1.2 * (x2 - x1))
    bb = tmp_path / "1_BB.txt"
    bb.write_text("56 28 112 112 0.98\n")
    assert read_boxes(BoxSource(bb, "celeba_bb"), (448, 224)) == {0: (112.0, 28.0, 336.0, 140.0)}


def test_bad_box_lines_name_the_file(tmp_path):
    bad = tmp_path / "bad.face"
    bad.write_text("0 1 2 3 4\n1 x 2 3 4\n")
    with pytest.raises(ValueError, match=r"bad\.face:2"):
        read_boxes(BoxSource(bad, "frame_xywh"), (64, 64))
    short = tmp_path / "short.face"
    short.write_text("0 1 2\n")
    with pytest.raises(ValueError, match="short.face"):
        read_boxes(BoxSource(short, "frame_xywh"), (64, 64))
    with pytest.raises(ValueError, match="unknown box format"):
        BoxSource(bad, "yolo")


def test_invalid_boxes_and_nearest_frame():
    size = (64, 64)
    assert not valid_box((0, 0, 0, 0), size)
    assert not valid_box((10, 10, 12, 40), size)
    assert not valid_box((50, 50, 120, 120), size)
    assert valid_box(BOX, size)
    boxes = {4: BOX, 5: (0, 0, 0, 0)}
    assert box_for_frame(boxes, 6, size) == BOX
    assert box_for_frame(boxes, 7, size) is None


def test_square_crop_centres_the_box_with_margin():
    image = Image.new("RGB", (100, 80))
    image.paste((255, 255, 255), (40, 20, 60, 60))
    crop = np.asarray(square_crop(image, (40, 20, 60, 60), scale=2.0, size=80))
    assert crop.shape == (80, 80, 3)
    white = np.argwhere(crop[..., 0] > 128)
    assert white.min(0).tolist() == pytest.approx([20, 30], abs=1) and white.max(0).tolist() == pytest.approx([59, 49], abs=1)


def _reference_nms(boxes, scores, idxs, threshold):
    keep = []
    for i in sorted(range(len(boxes)), key=lambda i: -scores[i]):
        if all(idxs[i] != idxs[j] or _iou(boxes[i], boxes[j]) <= threshold for j in keep):
            keep.append(i)
    return keep


def _iou(a, b):
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
    return inter / (area(a) + area(b) - inter)


def test_batched_nms_matches_a_reference():
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(200, 2, generator=generator) * 100
    boxes = torch.cat([corners, corners + 5 + torch.rand(200, 2, generator=generator) * 30], dim=1)
    scores, idxs = torch.rand(200, generator=generator), torch.randint(0, 3, (200,), generator=generator)
    kept = batched_nms(boxes, scores, idxs, 0.5).tolist()
    assert kept == _reference_nms(boxes.tolist(), scores.tolist(), idxs.tolist(), 0.5)
    assert batched_nms(torch.empty(0, 4), torch.empty(0), torch.empty(0), 0.5).numel() == 0


def test_mtcnn_finds_a_real_face_without_torchvision():
    detector = MtcnnDetector()
    canvas = Image.new("RGB", (128, 128), (60, 60, 60))
    canvas.paste(astronaut_face(64), (32, 32))
    x1, y1, x2, y2 = detector(canvas)
    assert 32 <= x1 < x2 <= 96 and 32 <= y1 < y2 <= 96
    assert detector(Image.new("RGB", (128, 128), (60, 60, 60))) is None
    assert "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is None
