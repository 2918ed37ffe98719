"""Odd image modes are converted; unreadable inputs raise a clear ValueError and never score as live."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from processing_ifas import load_image
from tiny_inputs import random_image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` but carries almost no pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "I", "F", "1"])
def test_modes_are_converted_to_rgb(mode):
    if mode == "I;16":
        image = Image.fromarray(np.full((10, 9), 65535, dtype=np.uint16))
    else:
        image = random_image(0, (9, 10)).convert(mode)
    loaded = load_image(png_bytes(image) if mode not in ("F", "I", "I;16", "CMYK") else image)
    assert loaded.mode == "RGB" and loaded.size == (9, 10)
    if mode == "I;16":
        assert loaded.getpixel((0, 0)) == (255, 255, 255)  # rescaled, not clipped


def test_rgba_transparency_goes_to_black():
    image = Image.new("RGBA", (8, 8), (200, 10, 10, 0))
    image.putpixel((0, 0), (200, 10, 10, 255))  # one opaque pixel: a picture, transparent elsewhere
    assert load_image(image).getpixel((1, 1)) == (0, 0, 0) and load_image(image).getpixel((0, 0)) == (200, 10, 10)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty input"),
        (b"this is a text file, not an image", "not an image"),
        (png_bytes(random_image(1, (40, 40)))[:-60], "corrupt or truncated"),
        (png_header_only(12_000, 12_000), "exceeds the limit"),
        (png_header_only(200_000, 200_000), "absurd pixel count"),
    ],
)
def test_unreadable_bytes_raise_clear_errors(data, message):
    with pytest.raises(ValueError, match=message):
        load_image(data)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 garbage")
    with pytest.raises(ValueError, match="broken.jpg"):
        load_image(str(path))
    with pytest.raises(ValueError, match="no such file"):
        load_image(str(tmp_path / "missing.png"))


def test_zero_size_image():
    with pytest.raises(ValueError, match="zero-size"):
        load_image(Image.new("RGB", (0, 5)))


def test_score_and_judge_fail_closed(tiny_model_and_processor, tmp_path):
    model, processor = tiny_model_and_processor
    broken = tmp_path / "broken.png"
    broken.write_bytes(png_bytes(random_image(2, (30, 30)))[:-40])
    good = random_image(3)
    for call in (model.score, lambda *args: model.judge(*args, strict=True)):
        with pytest.raises(ValueError, match="broken.png"):
            call(processor, [good, str(broken)])
    answers = model.judge(processor, [good, str(broken)], max_new_tokens=1)  # strict=False: the batch is answered
    assert "broken.png" in answers[1]["error"] and answers[1]["is_live"] is False and answers[1]["p_live"] is None
    assert answers[0]["error"] is None
