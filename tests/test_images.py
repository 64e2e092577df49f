"""Image decoding policy: conversions, crop, and everything that must be skipped."""

import io

import numpy as np
import pytest
import simplejpeg
from PIL import Image

from kgan.data.images import SkippedImage, decode_image, plain_jpeg, square_resize, to_rgb


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "LA", "I;16", "1"])
def test_every_mode_becomes_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = Image.new("RGB", (40, 40), (200, 30, 30)).convert(mode)
    out = decode_image(encode(image, fmt), 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    """A photo stored sideways with an EXIF orientation decodes as it is meant to be seen:
    the same pixels as the image stored upright."""
    upright = Image.fromarray(np.random.default_rng(orientation).integers(0, 256, (24, 40, 3), np.uint8))
    turn = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM}
    turn |= {5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE}
    turn |= {8: Image.Transpose.ROTATE_270}
    stored = upright.transpose(turn[orientation]) if orientation in turn else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    seen = decode_image(encode(stored, exif=exif.tobytes()), 24, pad=True)
    assert np.array_equal(seen, decode_image(encode(upright), 24, pad=True))


# What sideways storage undoes each orientation (the inverse of the turn that stored it).
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM}
UPRIGHT |= {5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE}
UPRIGHT |= {8: Image.Transpose.ROTATE_90}
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="{}"/></rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("where", ["exif", "xmp"])
def test_jpeg_orientation_from_exif_or_xmp_is_applied(orientation, where):
    """A sideways JPEG is turned upright however its orientation is recorded: a JPEG with
    such a record is never taken for a plain one (which is decoded without PIL)."""
    stored = Image.fromarray(np.random.default_rng(orientation).integers(0, 256, (24, 40, 3), np.uint8))
    plain = encode(stored, "JPEG", quality=90)
    if where == "exif":
        exif = Image.Exif()
        exif[0x0112] = orientation
        turned = encode(stored, "JPEG", quality=90, exif=exif.tobytes())
    else:
        turned = encode(stored, "JPEG", quality=90, xmp=XMP.format(orientation).encode())
    assert plain_jpeg(plain, 24) is not None and plain_jpeg(turned, 24) is None
    upright = Image.fromarray(simplejpeg.decode_jpeg(plain)).transpose(UPRIGHT[orientation])  # same coded pixels
    assert np.array_equal(decode_image(turned, 24, pad=True), square_resize(upright, 24, pad=True))


def pil_reference(data: bytes, size: int, resize_filter: str, pad: bool) -> np.ndarray:
    """What PIL alone makes of a JPEG without orientation: decoded, RGB, squared, resized."""
    with Image.open(io.BytesIO(data)) as image:
        return square_resize(to_rgb(image), size, resize_filter, pad)


@pytest.mark.parametrize("mode", ["RGB", "L", "keep_rgb"])
@pytest.mark.parametrize("progressive", [False, True])
def test_plain_jpegs_skip_pil_and_give_its_pixels(mode, progressive):
    """Plain JPEGs already at the stored size are decoded by libjpeg-turbo straight into an
    array: pixel for pixel what PIL gives, for every chroma subsampling and odd sizes
    (centre-cropped); those to resize or letterbox go through PIL."""
    rng = np.random.default_rng(7)
    smooth = np.cumsum(rng.integers(0, 9, (130, 130, 3)), axis=1).astype(np.uint8)  # photo-like gradients
    subsamplings = (0,) if mode == "keep_rgb" else (0, 1, 2)  # 4:4:4, 4:2:2, 4:2:0; RGB-coded: 4:4:4 only
    fast = 0
    for height, width in [(96, 96), (97, 61), (33, 130), (7, 9), (1, 1)]:
        for pixels in (smooth[:height, :width], rng.integers(0, 256, (height, width, 3), np.uint8)):
            for subsampling in subsamplings:
                image = Image.fromarray(np.ascontiguousarray(pixels))
                options = {"quality": 85, "progressive": progressive, "subsampling": subsampling}
                if mode == "keep_rgb":
                    options["keep_rgb"] = True
                else:
                    image = image.convert(mode)
                data = encode(image, "JPEG", **options)
                side = min(height, width)
                choices = [(side, "lanczos", False), (side, "box", True), (16, "bilinear", False)]
                for size, resize_filter, pad in choices:
                    ours = decode_image(data, size, resize_filter=resize_filter, pad=pad)
                    assert np.array_equal(ours, pil_reference(data, size, resize_filter, pad)), (height, width)
                    skips_pil = size == side and not (pad and height != width)
                    assert (plain_jpeg(data, size, pad) is not None) == skips_pil
                    fast += skips_pil
    assert fast == 2 * len(subsamplings) * (5 + 2)  # at `side`: cropped (5 shapes), and padded (2 square ones)


def test_jpegs_pil_must_decode_are_left_to_it():
    """CMYK, damaged and non-JPEG data are not plain JPEGs: PIL decodes them, or names the fault."""
    rgb = Image.fromarray(np.random.default_rng(3).integers(0, 256, (40, 40, 3), np.uint8))
    cmyk = encode(rgb.convert("CMYK"), "JPEG")
    assert plain_jpeg(cmyk, 40) is None
    assert np.array_equal(decode_image(cmyk, 40), pil_reference(cmyk, 40, "lanczos", False))
    whole = encode(rgb, "JPEG")
    assert plain_jpeg(whole, 40) is not None
    assert plain_jpeg(whole[: len(whole) // 2], 40) is None and plain_jpeg(encode(rgb), 40) is None
    assert plain_jpeg(whole, 40, max_pixels=1000) is None  # PIL refuses it with the reason
    with pytest.raises(SkippedImage, match="decompression bomb"):
        decode_image(whole, 40, max_pixels=1000)
    with pytest.raises(SkippedImage, match="truncated"):
        decode_image(whole[: len(whole) // 2], 40)


def test_transparency_is_composited_over_white():
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    out = decode_image(encode(image), 10)
    assert (out == 255).all()


def test_non_square_is_centre_cropped():
    image = Image.new("RGB", (30, 10), (255, 0, 0))
    image.paste((0, 0, 255), (10, 0, 20, 10))  # the centre third is blue
    out = decode_image(encode(image), 10)
    assert (out[..., 2] == 255).all() and (out[..., 0] == 0).all()


def test_empty_truncated_and_non_images_are_skipped():
    with pytest.raises(SkippedImage, match="empty"):
        decode_image(b"", 8)
    with pytest.raises(SkippedImage, match="not an image"):
        decode_image(b"hello, this is text", 8)
    whole = encode(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")
    with pytest.raises(SkippedImage, match="truncated"):
        decode_image(whole[: len(whole) // 2], 8)


def test_decompression_bomb_is_refused_before_decoding():
    bomb = encode(Image.new("L", (5000, 5000)), "PNG", optimize=True)
    assert len(bomb) < 100_000  # tiny file, 25 megapixels
    with pytest.raises(SkippedImage, match="decompression bomb"):
        decode_image(bomb, 8, max_pixels=1_000_000)


def test_resize_is_antialiased():
    checker = (np.indices((96, 96)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = decode_image(encode(Image.fromarray(checker).convert("RGB")), 32)
    assert abs(float(out.mean()) - 127.5) < 10 and out.std() < 20  # averaged, not aliased


def test_grid_enlarges_small_tiles_by_whole_factors_and_keeps_large_ones():
    from kgan.sampling import image_grid

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    grid = image_grid(small)
    assert grid.shape == (2 * 66 + 2, 2 * 66 + 2, 3)
    np.testing.assert_array_equal(grid[2:66, 2:66], small[0].repeat(2, 0).repeat(2, 1))  # nearest: blocks
    odd = rng.integers(0, 256, (1, 24, 24, 3), dtype=np.uint8)
    assert image_grid(odd).shape == (72 + 4, 72 + 4, 3)  # ×3 reaches 64
    large = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_grid(large)[2:66, 2:66], large[0])
    assert image_grid(small, min_tile=0).shape == (2 * 34 + 2, 2 * 34 + 2, 3)
