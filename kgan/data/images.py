"""Turning untrusted image bytes into a square RGB uint8 array, or a reason to skip them.

Policy (documented in the README):
- 0-byte, truncated, corrupt and non-image inputs are skipped with a reason.
- Images above `max_pixels` (decompression bombs) are refused before decoding.
- Grayscale, palette, CMYK, 16-bit and other modes become RGB; transparency is
  composited over white. EXIF orientation is applied; animations use their first frame.
- Non-square images are centre-cropped to a square (or, with `pad`, letterboxed on
  white), then resized to the stored size with Lanczos (or box, or bilinear).

Plain JPEGs that need no resize (`plain_jpeg`) skip PIL's decoder for libjpeg-turbo's
own: the same pixels, sooner; everything else goes through PIL.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 40_000_000  # far above any avatar, far below a bomb
# Box averages whole source pixels: StyleGAN2-ADA moved to it to match its published FIDs.
RESIZE_FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
}
PAD_COLOUR = (255, 255, 255)  # as transparency: avatars are mostly drawn on light backgrounds


class SkippedImage(Exception):
    """An input that is not a usable image; the message is the reason shown in reports."""


def decode_image(
    data: bytes, size: int, max_pixels: int = DEFAULT_MAX_PIXELS, resize_filter: str = "lanczos", pad: bool = False
) -> np.ndarray:
    """Decode, normalise and resize one image to `[size, size, 3]` uint8.

    Raises:
        SkippedImage: when the bytes are empty, not an image, truncated, or too large.
    """
    if not data:
        raise SkippedImage("empty file")
    pixels = plain_jpeg(data, size, pad, max_pixels)
    if pixels is not None:
        return pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise SkippedImage(
                    f"refused: {width}x{height} pixels exceeds the limit of {max_pixels} (possible decompression bomb)"
                )
            image.load()
    except SkippedImage:
        raise
    except UnidentifiedImageError:
        raise SkippedImage("not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SkippedImage("refused: possible decompression bomb") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise SkippedImage(f"truncated or corrupt image ({error})") from None
    try:
        ImageOps.exif_transpose(image, in_place=True)  # no copy when there is nothing to turn
        image = to_rgb(image)
    except (OSError, ValueError) as error:
        raise SkippedImage(f"cannot convert to RGB ({error})") from None
    return square_resize(image, size, resize_filter, pad)


JPEG_START = b"\xff\xd8\xff"
JPEG_APP1 = b"\xff\xe1"  # EXIF and XMP, where an orientation can hide; never inside coded data
PLAIN_COLOURS = ("YCbCr", "RGB", "Gray")  # decoded to RGB by libjpeg exactly as PIL converts them


def plain_jpeg(data: bytes, size: int, pad: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """A plain JPEG (YCbCr, RGB or grey, no APP1 segment) whose centre square is already
    `size`, as that square `[size, size, 3]` uint8; None for anything else, which PIL then
    decodes (and, if it is damaged, names the fault).

    libjpeg-turbo called directly: the very decoder PIL uses, with the same DCT and
    upsampling, so the same pixels, in a third of the time PIL takes for an avatar-sized
    image. Only where nothing is resized: handing a decoded array to PIL to resize costs
    what skipping PIL's decoder saves. No APP1 segment means no EXIF or XMP orientation."""
    if not data.startswith(JPEG_START) or JPEG_APP1 in data:
        return None
    try:
        height, width, colours, _ = simplejpeg.decode_jpeg_header(data)
        if colours not in PLAIN_COLOURS or width * height > min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels):
            return None
        if min(width, height) != size or (pad and width != height):
            return None
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB")
    except ValueError:  # damaged, or a kind libjpeg-turbo's simple interface does not take
        return None
    top, left = (height - size) // 2, (width - size) // 2  # as `square_resize` crops
    return np.ascontiguousarray(pixels[top : top + size, left : left + size])


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent pixels become white."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping.
        array = np.asarray(image, dtype=np.float64)
        peak = max(float(array.max()), 1.0)
        scale = 255.0 / (65535.0 if peak > 255 else 255.0)
        image = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), "L")
    return image if image.mode == "RGB" else image.convert("RGB")


def square_resize(image: Image.Image, size: int, resize_filter: str = "lanczos", pad: bool = False) -> np.ndarray:
    """Centre-crop to a square (with `pad`: centre on a white square instead, nothing cut),
    then resize to `size` with `resize_filter`."""
    width, height = image.size
    if pad:
        side = max(width, height)
        canvas = Image.new("RGB", (side, side), PAD_COLOUR)
        canvas.paste(image, ((side - width) // 2, (side - height) // 2))
        image = canvas
    elif width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    else:
        side = width
    if side != size:
        image = image.resize((size, size), RESIZE_FILTERS[resize_filter])
    return np.asarray(image, dtype=np.uint8)
