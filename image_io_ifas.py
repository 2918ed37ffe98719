"""The one image decoder of I-FAS (inference, evaluation, corpus builders, SCF, the app): strict, upright, RGB,
size-checked.

`load_image(source)` takes a path, bytes, a `datasets.Image` storage dict, a URL (only with `url_timeout`) or a PIL
image and returns a fully decoded RGB PIL image, or raises `ValueError` naming the input and the problem. It fails
closed:
- corrupt data is an error: JPEG scan data is entropy-decoded by libjpeg-turbo (`simplejpeg`, strict mode) so that
  the corrupt-data warnings Pillow ignores ("Corrupt JPEG data: N extraneous bytes before marker", "premature end
  of data segment") are errors; PNG chunk checksums are verified (`Image.verify`); every format is fully decoded
  with truncated images refused. A bit flip that leaves a syntactically valid bitstream cannot be seen by any
  decoder and is not caught;
- pixels that carry no picture are an error: a float image with a NaN or infinite value, an image whose alpha is 0
  everywhere (fully transparent);
- the EXIF orientation is applied (`ImageOps.exif_transpose`), so a phone photo is scored upright, as the
  builders store it;
- any mode is converted to RGB (`to_rgb`: 16/32-bit and float grey rescaled, premultiplied alpha ("La", "RGBa")
  un-premultiplied, alpha dropped onto black);
- sizes: more than `MAX_IMAGE_PIXELS` pixels is refused from the header, before decoding (decompression bombs);
  a side under `MIN_IMAGE_SIDE` pixels is refused (no face texture survives in it); a file larger than its image
  can need (`MAX_BYTES_PER_PIXEL` per pixel plus `MAX_METADATA_BYTES`: a small JPEG followed by a gigabyte of
  zeros) is refused from the header, before it is read;
- memory: an image of more than `DECODE_MAX_PIXELS` pixels is decoded at 1/2, 1/4 or 1/8 of its size (JPEG: DCT
  scaling inside libjpeg, the full-size image is never held; other formats: reduced right after decoding), the
  largest of these that fits; `image.info["ifas_reduction"]` holds the divisor (face boxes are mapped back to the
  original pixels by the processor);
- URLs are fetched only when the caller gives `url_timeout` (seconds, for the whole download), never by default:
  a server that never answers cannot hang inference.

A PIL image opened from a file and not decoded yet (`Image.open(path)` or `Image.open(file_object)`) is decoded
strictly from that file's bytes; any other PIL image is taken as decoded by the caller (its pixels checked,
converted, oriented and size-checked).

This module ships with the processor as remote code (it is a relative import of `processing_ifas.py`).

Example:
    >>> load_image(Image.new("L", (8, 8))).mode
    'RGB'
"""

import io
import math
import os
import time
import urllib.request

import numpy as np
import simplejpeg
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_IMAGE_PIXELS = 50_000_000  # refuse anything larger before decoding it (a 7000 x 7000 photo still passes)
MIN_IMAGE_SIDE = 8  # pixels; the vision tower upsamples to its input size, but below this there is no face left
DECODE_MAX_PIXELS = 4_000_000  # larger images are decoded at 1/2, 1/4 or 1/8 of their size (a face crop is 224 px)
MAX_BYTES_PER_PIXEL = 8  # no encoding of an image needs more (16-bit RGBA stored raw); more is trailing junk
MAX_METADATA_BYTES = 1 << 24  # 16 MiB of EXIF, XMP, ICC profiles and thumbnails on top of the pixels
URL_CHUNK_BYTES = 1 << 16
_JPEG_COLORSPACES = {"L": "GRAY", "CMYK": "CMYK"}  # libjpeg output space per PIL mode; anything else decodes as RGB
_UNPREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}  # Pillow converts premultiplied alpha only to these
_FLOAT_MODES = ("F",)


def is_url(source) -> bool:
    """Whether `source` is an http(s) URL.

    >>> is_url("https://example.com/face.jpg"), is_url("faces/a.jpg")
    (True, False)
    """
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def describe(source) -> str:
    """How an input is named in error messages.

    >>> describe("faces/a.jpg")
    "image file 'faces/a.jpg'"
    """
    if is_url(source):
        return f"image URL {source!r}"
    if isinstance(source, (str, os.PathLike)):
        return f"image file {os.fspath(source)!r}"
    if isinstance(source, (bytes, bytearray)):
        return f"image bytes ({len(source)} B)"
    if isinstance(source, Image.Image):
        filename = getattr(source, "filename", None)
        return f"PIL image from {filename!r}" if filename else f"PIL image ({source.mode}, {source.size[0]}x{source.size[1]})"
    return f"image {type(source).__name__}"


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: 16/32-bit and float grey is rescaled (not clipped), alpha is dropped onto black.

    >>> to_rgb(Image.new("I;16", (4, 4), 65535)).getpixel((0, 0))
    (255, 255, 255)
    """
    if image.mode == "RGB":
        return image
    if image.mode in _UNPREMULTIPLIED:
        image = image.convert(_UNPREMULTIPLIED[image.mode])
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


def check_pixels(image: Image.Image, what: str) -> None:
    """Raise `ValueError` naming `what` for pixels that carry no picture: a float image with any NaN or infinite
    value (one would blank the rescaled image), alpha 0 everywhere.

    >>> check_pixels(Image.new("RGBA", (8, 8)), "face.png")
    Traceback (most recent call last):
    ...
    ValueError: face.png: fully transparent (alpha is 0 in every pixel): there is no picture to judge
    """
    if image.mode in _FLOAT_MODES:
        array = np.asarray(image)
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ValueError(f"{what}: {bad} of {array.size} pixels of the float ({image.mode!r}) image are NaN or "
                             f"infinite")
        return
    if image.mode in _UNPREMULTIPLIED:
        image = image.convert(_UNPREMULTIPLIED[image.mode])
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = image.getchannel("A") if image.mode != "P" else image.convert("RGBA").getchannel("A")
        if alpha.getextrema()[1] == 0:
            raise ValueError(f"{what}: fully transparent (alpha is 0 in every pixel): there is no picture to judge")


def _check_size(image: Image.Image, what: str, max_pixels: int) -> None:
    width, height = image.size
    if width == 0 or height == 0:
        raise ValueError(f"{what}: zero-size image ({width}x{height})")
    if width * height > max_pixels:
        raise ValueError(f"{what}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ValueError(f"{what}: {width}x{height} is too small (each side must be at least {MIN_IMAGE_SIDE} px)")


def _check_file_size(num_bytes: int, image: Image.Image, what: str) -> None:
    """Refuse data far larger than its image can need (checked from the header, before the data is read)."""
    width, height = image.size
    limit = MAX_BYTES_PER_PIXEL * width * height + MAX_METADATA_BYTES
    if num_bytes > limit:
        raise ValueError(f"{what}: {num_bytes} bytes is far more than a {width}x{height} image can need (at most "
                         f"{limit}): refused unread (data appended to an image?)")


def _open(data, what: str) -> Image.Image:
    try:
        return Image.open(data if hasattr(data, "read") else io.BytesIO(data))
    except UnidentifiedImageError as error:
        raise ValueError(f"{what}: not an image file ({error})") from None
    except Image.DecompressionBombError as error:
        raise ValueError(f"{what}: refused, absurd pixel count ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{what}: corrupt or truncated image header ({error})") from None


def _read_url(url: str, what: str, timeout: float) -> bytes:
    """Download `url` within `timeout` seconds in all, stopping past what an image of the maximum size can need."""
    deadline, limit = time.monotonic() + timeout, MAX_BYTES_PER_PIXEL * MAX_IMAGE_PIXELS + MAX_METADATA_BYTES
    chunks, size = [], 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(URL_CHUNK_BYTES):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise ValueError(f"{what}: more than {limit} bytes, refused")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not downloaded within url_timeout={timeout} s")
    except (OSError, TimeoutError) as error:  # urllib.error.URLError is an OSError
        raise ValueError(f"{what}: cannot download ({error})") from None
    return b"".join(chunks)


def _read(source, what: str, url_timeout: float | None) -> bytes:
    """The encoded bytes of `source`; a file's header is checked before the file is read."""
    if is_url(source):
        if url_timeout is None:
            raise ValueError(f"{what}: URLs are not opened without an explicit url_timeout (seconds); download the "
                             f"file, or pass url_timeout")
        data = _read_url(source, what, url_timeout)
    elif isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise ValueError(f"{what}: no such file")
        if os.path.getsize(source) == 0:
            raise ValueError(f"{what}: empty input (0 bytes)")
        with open(source, "rb") as handle:
            header = _open(handle, what)
            _check_size(header, what, MAX_IMAGE_PIXELS)
            _check_file_size(os.path.getsize(source), header, what)
            handle.seek(0)
            return handle.read()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        raise ValueError(f"{what}: expected a path, bytes, a URL (with url_timeout) or a PIL image, got "
                         f"{type(source).__name__}")
    if not data:
        raise ValueError(f"{what}: empty input (0 bytes)")
    return data


def reduction(width: int, height: int, max_pixels: int | None = None) -> int:
    """The divisor (1, 2, 4 or 8) an image is decoded at: the smallest that brings it to at most `max_pixels`
    (default `DECODE_MAX_PIXELS`).

    >>> reduction(8660, 5773), reduction(2000, 1500)
    (4, 1)
    """
    max_pixels = DECODE_MAX_PIXELS if max_pixels is None else max_pixels
    divisor = 1
    while divisor < 8 and (width // divisor) * (height // divisor) > max_pixels:
        divisor *= 2
    return divisor


def _check_integrity(data: bytes, image: Image.Image, what: str, divisor: int) -> None:
    """Raise when the encoded data is corrupt in a way the plain Pillow decode would let through."""
    if image.format in ("JPEG", "MPO"):  # MPO: phone cameras' JPEG with extra pictures after the first
        width, height = image.size
        try:  # every scan is entropy-decoded in full whatever the output scale, so the check is as strict
            simplejpeg.decode_jpeg(data, colorspace=_JPEG_COLORSPACES.get(image.mode, "RGB"), strict=True,
                                   min_width=math.ceil(width / divisor), min_height=math.ceil(height / divisor))
        except ValueError as error:
            raise ValueError(f"{what}: corrupt or truncated JPEG data ({error})") from None
    elif image.format == "PNG":
        try:
            Image.open(io.BytesIO(data)).verify()
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"{what}: corrupt or truncated PNG data ({error})") from None


def _decode(data: bytes, what: str, max_pixels: int) -> Image.Image:
    image = _open(data, what)
    _check_size(image, what, max_pixels)
    _check_file_size(len(data), image, what)
    divisor = reduction(*image.size)
    _check_integrity(data, image, what, divisor)
    if divisor > 1 and image.format in ("JPEG", "MPO"):
        image.draft(image.mode, (image.size[0] // divisor, image.size[1] // divisor))  # Pillow floors the ratio
    previous, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{what}: corrupt or truncated image data ({error})") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    if divisor > 1:
        if image.format not in ("JPEG", "MPO"):
            image = image.reduce(divisor)
        image.info["ifas_reduction"] = divisor
    return image


def _encoded_bytes(image: Image.Image) -> bytes | None:
    """The bytes of a PIL image opened lazily and not decoded yet (`tile` is emptied by `load`); else None."""
    if not isinstance(image, ImageFile.ImageFile) or not image.tile:
        return None
    filename = getattr(image, "filename", None)
    if filename and os.path.isfile(filename):
        with open(filename, "rb") as handle:
            return handle.read()
    handle = getattr(image, "fp", None)
    if handle is None or not hasattr(handle, "seek"):
        return None
    position = handle.tell()
    try:
        handle.seek(0)
        return handle.read()
    finally:
        handle.seek(position)


def load_image(source, max_pixels: int = MAX_IMAGE_PIXELS, url_timeout: float | None = None) -> Image.Image:
    """Decode a path, bytes, `{"bytes"|"path"}` dict, URL (with `url_timeout`) or PIL image strictly to an upright
    RGB image; raise `ValueError` naming the input on anything unreadable (see the module docstring).

    >>> load_image(b"not an image")
    Traceback (most recent call last):
    ...
    ValueError: image bytes (12 B): not an image file (cannot identify image file <_io.BytesIO object at ...>)
    """
    if isinstance(source, dict) and ("bytes" in source or "path" in source):  # datasets.Image storage
        return load_image(source.get("bytes") or source["path"], max_pixels, url_timeout)
    what = describe(source)
    if isinstance(source, Image.Image):
        encoded = _encoded_bytes(source)
        if encoded is None:
            image = source
            _check_size(image, what, max_pixels)
        else:
            image = _decode(encoded, what, max_pixels)
    else:
        image = _decode(_read(source, what, url_timeout), what, max_pixels)
    check_pixels(image, what)
    try:
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, TypeError) as error:
        raise ValueError(f"{what}: unreadable EXIF orientation ({error})") from None
    rgb = to_rgb(upright)
    if "ifas_reduction" in image.info:
        rgb.info["ifas_reduction"] = image.info["ifas_reduction"]
    return rgb


__all__ = ["load_image", "to_rgb", "check_pixels", "describe", "is_url", "reduction", "MAX_IMAGE_PIXELS",
           "MIN_IMAGE_SIDE", "DECODE_MAX_PIXELS"]
