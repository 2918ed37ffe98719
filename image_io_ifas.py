"""The one image decoder of I-FAS (inference, evaluation, corpus builders, SCF): strict, upright, RGB, size-checked.

`load_image(source)` takes a path, bytes, a `datasets.Image` storage dict or a PIL image and returns a fully decoded
RGB PIL image, or raises `ValueError` naming the input and the problem. It fails closed:
- corrupt data is an error: JPEG scan data is entropy-decoded by libjpeg-turbo (`simplejpeg`, strict mode) so that
  the corrupt-data warnings Pillow ignores ("Corrupt JPEG data: N extraneous bytes before marker", "premature end
  of data segment") are errors; PNG chunk checksums are verified (`Image.verify`); every format is fully decoded
  with truncated images refused. A bit flip that leaves a syntactically valid bitstream cannot be seen by any
  decoder and is not caught;
- the EXIF orientation is applied (`ImageOps.exif_transpose`), so a phone photo is scored upright, as the
  builders store it;
- any mode is converted to RGB (`to_rgb`: 16/32-bit grey rescaled, alpha dropped onto black);
- sizes: more than `MAX_IMAGE_PIXELS` pixels is refused from the header, before decoding (decompression bombs);
  a side under `MIN_IMAGE_SIDE` pixels is refused (no face texture survives in it).

A PIL image opened from a file and not decoded yet (`Image.open(path)`) is decoded strictly from that file; any
other PIL image is taken as decoded by the caller (converted, oriented and size-checked only).

This module ships with the processor as remote code (it is a relative import of `processing_ifas.py`).

Example:
    >>> load_image(Image.new("L", (8, 8))).mode
    'RGB'
"""

import io
import os

import numpy as np
import simplejpeg
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_IMAGE_PIXELS = 50_000_000  # refuse anything larger before decoding it (a 7000 x 7000 photo still passes)
MIN_IMAGE_SIDE = 8  # pixels; the vision tower upsamples to its input size, but below this there is no face left
_JPEG_COLORSPACES = {"L": "GRAY", "CMYK": "CMYK"}  # libjpeg output space per PIL mode; anything else decodes as RGB


def describe(source) -> str:
    """How an input is named in error messages.

    >>> describe("faces/a.jpg")
    "image file 'faces/a.jpg'"
    """
    if isinstance(source, (str, os.PathLike)):
        return f"image file {os.fspath(source)!r}"
    if isinstance(source, (bytes, bytearray)):
        return f"image bytes ({len(source)} B)"
    return f"image {type(source).__name__}"


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: 16/32-bit grey is rescaled (not clipped), alpha is dropped onto black.

    >>> to_rgb(Image.new("I;16", (4, 4), 65535)).getpixel((0, 0))
    (255, 255, 255)
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        grey = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _read(source, what: str) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise ValueError(f"{what}: no such file")
        with open(source, "rb") as handle:
            data = handle.read()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        raise ValueError(f"{what}: expected a path, bytes or a PIL image")
    if not data:
        raise ValueError(f"{what}: empty input (0 bytes)")
    return data


def _check_integrity(data: bytes, image: Image.Image, what: str) -> None:
    """Raise when the encoded data is corrupt in a way the plain Pillow decode would let through."""
    if image.format in ("JPEG", "MPO"):  # MPO: phone cameras' JPEG with extra pictures after the first
        try:
            simplejpeg.decode_jpeg(data, colorspace=_JPEG_COLORSPACES.get(image.mode, "RGB"), strict=True)
        except ValueError as error:
            raise ValueError(f"{what}: corrupt or truncated JPEG data ({error})") from None
    elif image.format == "PNG":
        try:
            Image.open(io.BytesIO(data)).verify()
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"{what}: corrupt or truncated PNG data ({error})") from None


def _open(data: bytes, what: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError as error:
        raise ValueError(f"{what}: not an image file ({error})") from None
    except Image.DecompressionBombError as error:
        raise ValueError(f"{what}: refused, absurd pixel count ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{what}: corrupt or truncated image header ({error})") from None


def _check_size(image: Image.Image, what: str, max_pixels: int) -> None:
    width, height = image.size
    if width == 0 or height == 0:
        raise ValueError(f"{what}: zero-size image ({width}x{height})")
    if width * height > max_pixels:
        raise ValueError(f"{what}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ValueError(f"{what}: {width}x{height} is too small (each side must be at least {MIN_IMAGE_SIDE} px)")


def _is_undecoded_file(image: Image.Image) -> bool:
    """`Image.open(path)` not loaded yet: its pixels still come from `path` (`tile` is emptied by `load`)."""
    filename = getattr(image, "filename", None)
    return isinstance(image, ImageFile.ImageFile) and bool(image.tile) and bool(filename) and os.path.isfile(filename)


def load_image(source, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode a path, bytes, `{"bytes"|"path"}` dict or PIL image strictly to an upright RGB image; raise
    `ValueError` naming the input on anything unreadable (see the module docstring).

    >>> load_image(b"not an image")
    Traceback (most recent call last):
    ...
    ValueError: image bytes (12 B): not an image file (cannot identify image file <_io.BytesIO object at ...>)
    """
    if isinstance(source, dict) and ("bytes" in source or "path" in source):  # datasets.Image storage
        return load_image(source.get("bytes") or source["path"], max_pixels)
    if isinstance(source, Image.Image) and _is_undecoded_file(source):
        return load_image(source.filename, max_pixels)
    what = describe(source)
    if isinstance(source, Image.Image):
        image = source
        _check_size(image, what, max_pixels)
    else:
        data = _read(source, what)
        image = _open(data, what)
        _check_size(image, what, max_pixels)
        _check_integrity(data, image, what)
        previous, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"{what}: corrupt or truncated image data ({error})") from None
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, TypeError) as error:
        raise ValueError(f"{what}: unreadable EXIF orientation ({error})") from None
    return to_rgb(image)


__all__ = ["load_image", "to_rgb", "describe", "MAX_IMAGE_PIXELS", "MIN_IMAGE_SIDE"]
