"""Procedurally drawn anime-style avatars: the embedded default dataset.

Each avatar is drawn from a handful of discrete attributes (hair colour and style,
bangs, eye colour, skin tone, mouth, blush, accessory, background) plus small continuous
jitter (position, scale, tilt, colour). Attributes are saved beside the images, so a
generator that collapses onto a few hair or eye colours shows it at a glance.

Drawing is vectorised over a chunk of images: every layer is an antialiased signed
distance shape composited over the image inside the window it can reach, and chunks are
spread over worker processes. Image i depends only on (seed, i): a smaller dataset is a
prefix of a larger one.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from kgan.data.dataset import ImageWriter, PreparedDataset
from kgan.errors import KganError
from kgan.files import atomic_directory
from kgan.workers import OrderedWorkers, usable_cores

SIZE = 96  # the paper's source resolution
GENERATOR_VERSION = 1  # bump when any avatar's pixels change: caches built on the avatars key on it

HAIR_COLOURS = {
    "black": (40, 36, 48),
    "brown": (110, 70, 40),
    "blonde": (238, 206, 120),
    "red": (196, 48, 44),
    "blue": (60, 100, 210),
    "pink": (240, 140, 180),
    "purple": (130, 80, 180),
    "silver": (200, 204, 216),
    "green": (70, 160, 100),
    "orange": (240, 140, 50),
}
EYE_COLOURS = {
    "blue": (50, 110, 230),
    "green": (40, 170, 90),
    "red": (210, 40, 50),
    "brown": (120, 70, 30),
    "purple": (140, 60, 200),
    "gold": (230, 170, 30),
    "pink": (230, 90, 160),
}
SKIN_TONES = {"fair": (255, 228, 212), "light": (250, 214, 186), "tan": (226, 178, 140), "pale": (255, 238, 232)}
HAIR_STYLES = ("short", "long", "twintails", "bob")
BANGS = ("straight", "spiky", "swept")
MOUTHS = ("smile", "open", "flat")
ACCESSORIES = ("none", "bow", "hairclip", "cat_ears", "glasses")
BACKGROUNDS = {
    "sky": ((150, 200, 250), (220, 240, 255)),
    "peach": ((255, 200, 170), (255, 235, 215)),
    "mint": ((170, 230, 200), (230, 250, 240)),
    "lilac": ((200, 180, 240), (240, 230, 255)),
    "night": ((30, 40, 80), (80, 90, 140)),
    "grey": ((170, 170, 178), (225, 225, 230)),
}
ACCENTS = ((230, 50, 70), (250, 250, 250), (60, 90, 220), (250, 200, 40), (40, 40, 50))

ATTRIBUTES = (
    "hair_colour",
    "hair_style",
    "bangs",
    "eye_colour",
    "skin",
    "mouth",
    "blush",
    "accessory",
    "background",
)


def draw_attributes(seed: int, index: int) -> dict:
    """The attributes and jitter of avatar `index` for `seed` (independent of the count)."""
    rng = np.random.default_rng([seed, index])

    def pick(options):
        return list(options)[rng.integers(len(options))]

    return {
        "hair_colour": pick(HAIR_COLOURS),
        "hair_style": pick(HAIR_STYLES),
        "bangs": pick(BANGS),
        "eye_colour": pick(EYE_COLOURS),
        "skin": pick(SKIN_TONES),
        "mouth": pick(MOUTHS),
        "blush": bool(rng.random() < 0.5),
        "accessory": pick(ACCESSORIES),
        "background": pick(BACKGROUNDS),
        "accent": int(rng.integers(len(ACCENTS))),
        "dx": rng.uniform(-0.04, 0.04),
        "dy": rng.uniform(-0.03, 0.04),
        "scale": rng.uniform(0.9, 1.08),
        "tilt": rng.uniform(-0.14, 0.14),
        "eye_size": rng.uniform(0.85, 1.15),
        "eye_gap": rng.uniform(0.105, 0.125),
        "bang_phase": rng.uniform(0, 1),
        "colour_jitter": rng.uniform(-18, 18, size=3),
        "swept_dir": pick((-1.0, 1.0)),
    }


def _column(attrs: list[dict], key: str) -> np.ndarray:
    return np.asarray([a[key] for a in attrs], dtype=np.float32)[:, None, None]


def _colour(rgb_rows) -> np.ndarray:
    """One colour per avatar (or one for all) in [0, 1], planar: `[3, n, 1, 1]`."""
    return (np.asarray(rgb_rows, dtype=np.float32) / 255.0).T[:, :, None, None]


def _constant(rgb: list[float]) -> np.ndarray:
    """One colour in [0, 1] for every avatar, planar: `[3, 1, 1, 1]`."""
    return np.float32(rgb)[:, None, None, None]


def _cover(distance: np.ndarray) -> np.ndarray:
    """Antialiased coverage of a shape from its signed distance (in image widths)."""
    return np.clip(0.5 - distance * SIZE, 0.0, 1.0)


# Coverage is non-zero only where a shape's distance is below half a pixel.
REACH = 0.5 / SIZE


def _ellipse(u, v, cx, cy, rx, ry) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse."""
    radius = np.minimum(rx, ry)
    radius = float(radius) if np.ndim(radius) == 0 else radius  # keep float32 arrays float32
    return (np.sqrt(((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2) - 1.0) * radius


def _ellipse_box(cx, cy, rx, ry, grow: float = 0.0) -> tuple[float, float, float, float]:
    """Head-frame box `(u0, u1, v0, v1)` outside which `_ellipse(...) - grow` covers nothing."""
    reach = 1.0 + (REACH + grow) / min(rx, ry)
    return (cx - rx * reach, cx + rx * reach, cy - ry * reach, cy + ry * reach)


def _paint(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Composite `colour` with coverage `alpha` onto planar `image` `[3, n, h, w]`, only
    inside alpha's bounding box. Planar, so that each colour broadcasts along whole rows:
    with channels last numpy's inner loops would run three elements at a time."""
    alpha = np.broadcast_to(alpha, image.shape[1:])
    if alpha.size == 0:  # a window outside the frame
        return
    reach = alpha.max(axis=0) if alpha.shape[0] > 1 else alpha[0]  # over the avatars: [h, w]
    rows = np.flatnonzero(reach.max(axis=1) > 0)
    if rows.size == 0:
        return
    cols = np.flatnonzero(reach[rows[0] : rows[-1] + 1].max(axis=0) > 0)
    box = (slice(None), slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    region = image[(slice(None), *box)]
    change = colour - region
    change *= alpha[box]
    region += change


class _Canvas:
    """A chunk of avatars being drawn, and each pixel's position in its head's frame (u, v).

    A layer is drawn inside a window: the pixels where its head-frame box can land in any
    avatar of the chunk. Outside its box a layer covers nothing, so evaluating it only there
    changes no pixel; `windowed=False` evaluates everything over the whole frame."""

    def __init__(self, attrs: list[dict], windowed: bool = True):
        self.windowed = windowed
        grid = (np.arange(SIZE, dtype=np.float32) + 0.5) / SIZE
        gy, gx = np.meshgrid(grid, grid, indexing="ij")
        # Head frame: inverse of (shift, scale, tilt) applied to the pixel grid.
        dx, dy, scale, tilt = (_column(attrs, k) for k in ("dx", "dy", "scale", "tilt"))
        x0, y0 = gx[None] - 0.5 - dx, gy[None] - 0.55 - dy
        cos, sin = np.cos(tilt), np.sin(tilt)
        self.u = (cos * x0 + sin * y0) / scale + 0.5
        self.v = (-sin * x0 + cos * y0) / scale + 0.55
        # The forward map, head frame to image, for windows: one row per avatar.
        self.head = [np.float64(a[:, 0, :]) for a in (dx, dy, scale, cos, sin)]
        # Background: a vertical gradient.
        top = _colour([BACKGROUNDS[a["background"]][0] for a in attrs])
        bottom = _colour([BACKGROUNDS[a["background"]][1] for a in attrs])
        t = grid[None, None, :, None]
        self.image = np.empty((3, len(attrs), SIZE, SIZE), np.float32)  # planar: see _paint
        self.image[:] = top * (1 - t) + bottom * t

    def window(self, box: tuple[float, float, float, float]) -> tuple[slice, slice]:
        """Rows and columns holding every pixel of head-frame box `(u0, u1, v0, v1)`."""
        if not self.windowed:
            return slice(0, SIZE), slice(0, SIZE)
        u0, u1, v0, v1 = box
        cu = np.float64([u0, u1, u0, u1]) - 0.5
        cv = np.float64([v0, v0, v1, v1]) - 0.55
        dx, dy, scale, cos, sin = self.head
        x = 0.5 + dx + scale * (cos * cu - sin * cv)
        y = 0.55 + dy + scale * (sin * cu + cos * cv)

        def span(coordinate: np.ndarray) -> slice:  # pixel k sits at (k + 0.5) / SIZE; one spare pixel
            first = int(np.floor(coordinate.min() * SIZE - 0.5)) - 1
            last = int(np.ceil(coordinate.max() * SIZE - 0.5)) + 1
            return slice(min(max(first, 0), SIZE), max(min(last + 1, SIZE), 0))

        return span(y), span(x)

    def uv(self, window: tuple[slice, slice], rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Head-frame coordinates inside `window`, for all avatars or those in `rows`."""
        if rows is None:
            return self.u[:, window[0], window[1]], self.v[:, window[0], window[1]]
        return self.u[rows, window[0], window[1]], self.v[rows, window[0], window[1]]

    def paint(self, window, alpha, colour, rows: np.ndarray | None = None) -> None:
        """`_paint` inside `window`, onto all avatars or those in `rows` (colour per avatar)."""
        if rows is None:
            _paint(self.image[:, :, window[0], window[1]], alpha, colour)
            return
        if rows.size == 0:
            return
        if colour.shape[1] > 1:
            colour = colour[:, rows]
        region = self.image[:, rows, window[0], window[1]]
        _paint(region, alpha, colour)
        self.image[:, rows, window[0], window[1]] = region


def _rows(values: np.ndarray, wanted) -> np.ndarray:
    return np.flatnonzero(values.ravel() == wanted)


def render(attrs: list[dict], windowed: bool = True) -> np.ndarray:
    """Draw the avatars described by `attrs` as uint8 `[n, 96, 96, 3]`.

    `windowed=False` draws every layer over the whole frame: the same pixels, slower."""
    canvas = _Canvas(attrs, windowed)
    whole = canvas.window((-1.0, 2.0, -1.0, 2.0))  # the back hair reaches nearly every pixel

    def attr(name: str) -> np.ndarray:
        return np.asarray([a[name] for a in attrs])[:, None, None]

    jitter = np.stack([a["colour_jitter"] for a in attrs])
    hair = _colour([np.clip(np.add(HAIR_COLOURS[a["hair_colour"]], j), 0, 255) for a, j in zip(attrs, jitter)])
    hair_dark, hair_light = hair * 0.62, np.minimum(hair * 1.25 + 0.08, 1.0)
    skin = _colour([SKIN_TONES[a["skin"]] for a in attrs])
    eye = _colour([EYE_COLOURS[a["eye_colour"]] for a in attrs])
    accent = _colour([ACCENTS[a["accent"]] for a in attrs])
    line = _constant([0.18, 0.12, 0.14])

    # Hair behind the head, by style.
    style = attr("hair_style")
    u, v = canvas.uv(whole)
    back = _ellipse(u, v, 0.5, 0.47, 0.37, 0.37)
    rows = _rows(style, "long")
    u, v = canvas.uv(whole, rows)
    back[rows] = np.minimum(back[rows], np.maximum(np.abs(u - 0.5) - 0.36, np.abs(v - 0.78) - 0.32))
    rows = _rows(style, "bob")
    u, v = canvas.uv(whole, rows)
    back[rows] = np.maximum(_ellipse(u, v, 0.5, 0.52, 0.39, 0.36), v - 0.8)
    rows = _rows(style, "twintails")
    u, v = canvas.uv(whole, rows)
    tails = np.minimum(_ellipse(u, v, 0.13, 0.7, 0.09, 0.24), _ellipse(u, v, 0.87, 0.7, 0.09, 0.24))
    back[rows] = np.minimum(back[rows], tails)
    canvas.paint(whole, _cover(back + 0.006), line)
    canvas.paint(whole, _cover(back), hair_dark)

    # Cat ears sit behind the hairline, in the hair colour.
    rows = _rows(attr("accessory"), "cat_ears")
    for side in (-1.0, 1.0):
        cx = 0.5 + side * 0.24
        window = canvas.window((cx - 0.1, cx + 0.1, 0.04, 0.29))
        u, v = canvas.uv(window, rows)
        ear = (
            np.maximum(np.maximum(v - 0.26, -(v - 0.06) - 2.2 * np.abs(u - cx)), 0.0)
            + np.maximum(np.abs(u - cx) * 1.2 - (v - 0.08) * 0.55, 0.0)
            - 0.0001
        )
        canvas.paint(window, _cover(ear), hair, rows)

    # Neck and shoulders.
    shirt = _colour([np.clip(np.asarray(ACCENTS[(a["accent"] + 2) % len(ACCENTS)]) * 0.8 + 30, 0, 255) for a in attrs])
    window = canvas.window((0.42, 0.58, 0.69, 0.95))
    u, v = canvas.uv(window)
    canvas.paint(window, _cover(np.maximum(np.abs(u - 0.5) - 0.07, np.abs(v - 0.82) - 0.12)), skin * 0.9)
    window = canvas.window(_ellipse_box(0.5, 1.2, 0.44, 0.3))
    u, v = canvas.uv(window)
    canvas.paint(window, _cover(_ellipse(u, v, 0.5, 1.2, 0.44, 0.3)), shirt)

    # Face: an egg shape, narrower towards the chin, with a thin outline.
    window = canvas.window((0.22, 0.78, 0.21, 0.83))  # rx <= 0.25, ry 0.28; min radius >= 0.155
    u, v = canvas.uv(window)
    below = np.clip((v - 0.52) / 0.28, 0.0, 1.0)
    face = _ellipse(u, v, 0.5, 0.52, 0.25 * (1.0 - 0.38 * below**1.5), 0.28)
    canvas.paint(window, _cover(face), line)
    canvas.paint(window, _cover(face + 0.01), skin)

    # Blush: a glow cut off below 0.02 (within 1.98 radii).
    rows = _rows(attr("blush"), True)
    for side in (-1.0, 1.0):
        cx = 0.5 + side * 0.15
        window = canvas.window((cx - 0.115, cx + 0.115, 0.6, 0.72))
        u, v = canvas.uv(window, rows)
        glow = np.exp(-(((u - 0.5 - side * 0.15) / 0.055) ** 2 + ((v - 0.66) / 0.025) ** 2))
        canvas.paint(window, np.where(glow > 0.02, 0.45 * glow, 0.0), _colour([(250, 130, 150)]), rows)

    # Eyes: eyelid line, white, iris with a darker top, pupil and a highlight, and a brow;
    # all within 0.095 of the eye's centre (eye size <= 1.15, gap 0.105-0.125).
    size = _column(attrs, "eye_size")
    gap = _column(attrs, "eye_gap")
    for side in (-1.0, 1.0):
        ex, ey = 0.5 + side * gap, 0.585
        near = 0.5 + side * 0.115
        window = canvas.window((near - 0.106, near + 0.106, ey - 0.096, ey + 0.096))
        u, v = canvas.uv(window)
        lid = _ellipse(u, v, ex, ey - 0.004, 0.072 * size, 0.072 * size)
        canvas.paint(window, _cover(np.maximum(lid, v - ey + 0.01)), line)
        white = _ellipse(u, v, ex, ey + 0.008, 0.062 * size, 0.066 * size)
        canvas.paint(window, _cover(white), _constant([1.0, 1.0, 1.0]))
        iris = _ellipse(u, v, ex, ey + 0.014, 0.045 * size, 0.06 * size)
        canvas.paint(window, _cover(np.maximum(iris, white)), eye)
        canvas.paint(window, 0.5 * _cover(np.maximum(np.maximum(iris, white), v - ey + 0.005)), eye * 0.35)
        canvas.paint(window, _cover(_ellipse(u, v, ex, ey + 0.02, 0.019 * size, 0.032 * size)), line * 0.6)
        highlight = _ellipse(u, v, ex - 0.016 * size, ey - 0.008, 0.013, 0.013)
        canvas.paint(window, _cover(highlight), _constant([1.0, 1.0, 1.0]))
        brow = np.maximum(np.abs(_ellipse(u, v, ex, ey + 0.02, 0.075, 0.1)) - 0.004, v - ey + 0.075)
        canvas.paint(window, _cover(np.maximum(brow, np.abs(u - ex) - 0.05)), hair_dark * 0.8)

    # Mouth.
    mouth = attr("mouth")
    window = canvas.window((0.44, 0.56, 0.68, 0.77))
    lips = _colour([(170, 50, 60)])
    rows = _rows(mouth, "smile")
    u, v = canvas.uv(window, rows)
    smile = np.maximum(np.abs(_ellipse(u, v, 0.5, 0.715, 0.035, 0.02)) - 0.003, 0.72 - v)
    canvas.paint(window, _cover(smile), lips, rows)
    rows = _rows(mouth, "open")
    u, v = canvas.uv(window, rows)
    canvas.paint(window, _cover(_ellipse(u, v, 0.5, 0.735, 0.022, 0.017)), lips, rows)
    rows = _rows(mouth, "flat")
    u, v = canvas.uv(window, rows)
    canvas.paint(window, _cover(np.maximum(np.abs(v - 0.74) - 0.003, np.abs(u - 0.5) - 0.022)), lips, rows)

    # Bangs: hair over the forehead cut by a wavy line, plus side locks, plus a highlight;
    # all inside the crown.
    crown_window = canvas.window(_ellipse_box(0.5, 0.47, 0.37, 0.37, grow=0.02))
    u, v = canvas.uv(crown_window)
    bangs = attr("bangs")
    phase = _column(attrs, "bang_phase")
    wave = np.abs(np.sin((u - phase) * np.pi * 7.0))
    edge = np.where(bangs == "spiky", 0.33 + 0.1 * wave, 0.4 + 0.02 * wave)
    edge = np.where(bangs == "swept", 0.3 + 0.2 * (u - 0.3) * _column(attrs, "swept_dir") + 0.05 * wave, edge)
    crown = _ellipse(u, v, 0.5, 0.47, 0.37, 0.37)
    front = np.maximum(crown, v - edge)
    locks = np.minimum(
        np.maximum(np.abs(u - 0.255) - 0.045 * (1.1 - (v - 0.35) * 1.4), np.abs(v - 0.55) - 0.2),
        np.maximum(np.abs(u - 0.745) - 0.045 * (1.1 - (v - 0.35) * 1.4), np.abs(v - 0.55) - 0.2),
    )
    front = np.minimum(front, np.maximum(locks, crown - 0.02))
    canvas.paint(crown_window, _cover(front), hair)
    window = canvas.window(_ellipse_box(0.5, 0.42, 0.27, 0.25, grow=0.012))  # inside the crown's window
    inner = tuple(slice(w.start - c.start, w.stop - c.start) for w, c in zip(window, crown_window))
    u, v = canvas.uv(window)
    front = front[:, inner[0], inner[1]]
    shine = np.maximum(np.abs(_ellipse(u, v, 0.5, 0.42, 0.27, 0.25)) - 0.012, np.maximum(front, v - 0.3))
    canvas.paint(window, 0.7 * _cover(shine), hair_light)

    # Accessories.
    accessory = attr("accessory")
    bow_x = 0.7
    window = canvas.window((0.6, 0.8, 0.1, 0.22))
    rows = _rows(accessory, "bow")
    u, v = canvas.uv(window, rows)
    bow = np.minimum(
        np.maximum(np.abs(v - 0.16) - 0.6 * (u - bow_x + 0.01), np.abs(u - bow_x + 0.045) - 0.045),
        np.maximum(np.abs(v - 0.16) + 0.6 * (u - bow_x - 0.01), np.abs(u - bow_x - 0.045) - 0.045),
    )
    bow = np.minimum(bow, _ellipse(u, v, bow_x, 0.16, 0.018, 0.018))
    canvas.paint(window, _cover(bow), accent, rows)
    window = canvas.window((0.28, 0.38, 0.28, 0.32))
    rows = _rows(accessory, "hairclip")
    u, v = canvas.uv(window, rows)
    canvas.paint(window, _cover(np.maximum(np.abs(u - 0.33) - 0.04, np.abs(v - 0.3) - 0.012)), accent, rows)
    window = canvas.window((0.27, 0.73, 0.5, 0.68))
    rows = _rows(accessory, "glasses")
    u, v = canvas.uv(window, rows)
    gap_rows = gap[rows]
    glasses = (
        np.minimum(
            np.abs(_ellipse(u, v, 0.5 - gap_rows, 0.59, 0.085, 0.07)),
            np.abs(_ellipse(u, v, 0.5 + gap_rows, 0.59, 0.085, 0.07)),
        )
        - 0.004
    )
    glasses = np.minimum(glasses, np.maximum(np.abs(v - 0.58) - 0.003, np.abs(u - 0.5) - gap_rows + 0.085))
    canvas.paint(window, _cover(glasses), line * 1.5, rows)

    planar = canvas.image
    planar *= 255.0
    planar += 0.5
    planar = np.clip(planar, 0, 255, out=planar).astype(np.uint8)
    return np.ascontiguousarray(planar.transpose(1, 2, 3, 0))


CHUNK = 32  # avatars drawn together: enough to amortise numpy's calls, small enough for the cache
REQUEST = 256  # avatars per request to a drawing process


def generate(count: int, seed: int = 0, workers: int | None = None) -> tuple[np.ndarray, list[dict]]:
    """`count` avatars as uint8 `[count, 96, 96, 3]` and their attributes."""
    attrs = [draw_attributes(seed, i) for i in range(count)]
    images = np.empty((count, SIZE, SIZE, 3), np.uint8)
    for start, drawn in drawn_ranges(attrs, workers):
        images[start : start + len(drawn)] = drawn
    return images, attrs


def drawn_ranges(attrs: list[dict], workers: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """`(first index, avatars)` covering the avatars described by `attrs`, in order; drawn on
    worker processes (`kgan.workers`, one per usable core) unless there are too few
    avatars to pay for starting them."""
    starts = range(0, len(attrs), REQUEST)
    workers = usable_cores() if workers is None else workers
    if workers <= 1 or len(starts) < 2 * workers:
        for start in starts:
            yield start, draw_request({}, attrs[start : start + REQUEST])
        return
    with OrderedWorkers("draw", workers, {}) as pool:
        yield from pool.map((start, attrs[start : start + REQUEST]) for start in starts)


def draw_request(options: dict, attrs: list[dict]) -> np.ndarray:
    """A drawing process's task (`kgan.workers`): the avatars `attrs` describe, `CHUNK` at a time."""
    return np.concatenate([render(attrs[first : first + CHUNK]) for first in range(0, len(attrs), CHUNK)])


def write_synthetic(
    out: Path,
    count: int,
    seed: int = 0,
    *,
    val: int | None = None,
    test: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> PreparedDataset:
    """Draw `count` avatars into a prepared dataset at `out` (appears only when complete)."""
    if count < 10:
        raise KganError(f"--count must be at least 10 so every split gets images, got {count}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KganError(f"--out {out} exists and is not empty: choose a new folder")
    with atomic_directory(out) as tmp:
        writer = ImageWriter(tmp / "images.npy", SIZE)
        kept: list[dict] = []
        try:
            all_attrs = [draw_attributes(seed, i) for i in range(count)]
            for start, drawn in drawn_ranges(all_attrs, workers):
                for offset, image in enumerate(drawn):
                    writer.report.scanned += 1
                    if writer.add(f"avatar-{start + offset:06d}", image):
                        kept.append(all_attrs[start + offset])
                if progress:
                    progress(writer.report.scanned)
        finally:
            writer.close()
        writer.finish(
            source=f"synthetic:seed={seed}",
            seed=seed,
            val=val,
            test=test,
            extra={"synthetic": {"seed": seed, "count": count}},
        )
        with open(tmp / "attributes.csv", "w", newline="") as handle:
            table = csv.writer(handle)
            table.writerow(["index", "name", *ATTRIBUTES])
            for index, (name, attrs_row) in enumerate(zip(writer.names, kept)):
                table.writerow([index, name, *(attrs_row[key] for key in ATTRIBUTES)])
    return PreparedDataset(out)
