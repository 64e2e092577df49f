"""Procedurally drawn anime-style avatars: the embedded default dataset.

Each avatar is drawn from a handful of discrete attributes (hair colour and style,
bangs, eye colour, skin tone, mouth, blush, accessory, background) plus small continuous
jitter (position, scale, tilt, colour). Attributes are saved beside the images, so a
generator that collapses onto a few hair or eye colours shows it at a glance.

Every layer is an antialiased signed distance shape composited over the image inside the
window it can reach. `render` states the drawing in numpy, over a chunk of avatars;
commands draw with `render_compiled`, the same layers compiled (`avatar_kernel`) and the
same bytes, the attributes drawn on worker processes and the avatars on threads. Image i
depends only on (seed, i): a smaller dataset is a prefix of a larger one.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kgan.data.dataset import ImageWriter, PreparedDataset, content_hash
from kgan.errors import KganError
from kgan.files import atomic_directory
from kgan.system.workers import OrderedWorkers, usable_cores

SIZE = 96  # the paper's source resolution
GENERATOR_VERSION = 2  # bump when any avatar's pixels change: caches built on the avatars key on it

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


def _contrasting_accents(hair: tuple[int, int, int]) -> tuple[tuple[int, int, int], ...]:
    """The accessory colour for each accent on this hair: the accent, or the next one when
    it would vanish into the hair (a blue bow on blue hair is a dark outline and no bow)."""

    def far(colour):
        return np.linalg.norm(np.subtract(colour, hair)) >= 100

    return tuple(next(c for c in ACCENTS[start:] + ACCENTS[:start] if far(c)) for start in range(len(ACCENTS)))


ACCESSORY_COLOURS = {hair: _contrasting_accents(rgb) for hair, rgb in HAIR_COLOURS.items()}

# The discrete attributes the drawing branches on, and their values in order.
CHOICES = {"hair_style": HAIR_STYLES, "bangs": BANGS, "mouth": MOUTHS, "accessory": ACCESSORIES, "blush": (False, True)}

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


def attribute_values() -> dict[str, tuple]:
    """Each attribute's possible values, in the order drawn (blush: False, True)."""
    return {
        "hair_colour": tuple(HAIR_COLOURS),
        "hair_style": HAIR_STYLES,
        "bangs": BANGS,
        "eye_colour": tuple(EYE_COLOURS),
        "skin": tuple(SKIN_TONES),
        "mouth": MOUTHS,
        "blush": (False, True),
        "accessory": ACCESSORIES,
        "background": tuple(BACKGROUNDS),
    }


def attribute_vocabulary() -> dict[str, tuple[str, ...]]:
    """`attribute_values` as `attributes.csv` writes them (text)."""
    return {name: tuple(str(value) for value in values) for name, values in attribute_values().items()}


def draw_attributes(seed: int, index: int) -> dict:
    """The attributes and jitter of avatar `index` for `seed` (independent of the count)."""
    rng = np.random.default_rng([seed, index])

    def pick(options):
        return list(options)[rng.integers(len(options))]

    def uniform(low: float, high: float) -> float:  # Generator.uniform's arithmetic, without its overhead
        return low + (high - low) * rng.random()

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
        "dx": uniform(-0.04, 0.04),
        "dy": uniform(-0.03, 0.04),
        "scale": uniform(0.9, 1.08),
        "tilt": uniform(-0.14, 0.14),
        "eye_size": uniform(0.85, 1.15),
        "eye_gap": uniform(0.105, 0.125),
        "bang_phase": uniform(0.0, 1.0),
        "colour_jitter": rng.uniform(-18, 18, size=3),
        "swept_dir": pick((-1.0, 1.0)),
    }


def _columns(attrs: list[dict], keys: tuple[str, ...]) -> list[np.ndarray]:
    """Each key's values, one per avatar as float32 `[n, 1, 1]`, from one pass over the avatars."""
    table = np.asarray([[a[key] for key in keys] for a in attrs], dtype=np.float32)
    return [table[:, k, None, None] for k in range(len(keys))]


def _column(attrs: list[dict], key: str) -> np.ndarray:
    return _columns(attrs, (key,))[0]


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


BOW_KNOT = (0.7, 0.16)  # the bow's centre, top right of the head
OUTLINE = 0.007  # the bow's, the hairclip's and the cat ears' dark rim
EAR_X = 0.2  # the cat ears' distance from the head's middle: inside the crown's width at their base

# Head-frame boxes `(u0, u1, v0, v1)` outside which each layer covers nothing; a layer is
# evaluated only in the pixels its box can reach (`_Canvas.spans`). Sides are -1 and +1.
BOXES = {
    **{
        f"ear {side:+.0f}": (0.5 + side * EAR_X - 0.115, 0.5 + side * EAR_X + 0.115, -0.005, 0.26)
        for side in (-1.0, 1.0)
    },
    "neck": (0.42, 0.58, 0.69, 0.95),
    "shirt": _ellipse_box(0.5, 1.2, 0.44, 0.3),
    "face": (0.22, 0.78, 0.21, 0.83),  # rx <= 0.25, ry 0.28; min radius >= 0.155
    # A glow cut off below 0.02: within 1.98 radii of its centre.
    **{f"blush {side:+.0f}": (0.5 + side * 0.15 - 0.115, 0.5 + side * 0.15 + 0.115, 0.6, 0.72) for side in (-1.0, 1.0)},
    # Everything of an eye lies within 0.095 of its centre (eye size <= 1.15, gap 0.105-0.125).
    **{
        f"eye {side:+.0f}": (0.5 + side * 0.115 - 0.106, 0.5 + side * 0.115 + 0.106, 0.585 - 0.096, 0.585 + 0.096)
        for side in (-1.0, 1.0)
    },
    "mouth": (0.44, 0.56, 0.68, 0.77),
    "crown": _ellipse_box(0.5, 0.47, 0.37, 0.37, grow=0.02),
    "shine": _ellipse_box(0.5, 0.42, 0.27, 0.25, grow=0.012),  # inside the crown's box
    "bow": (0.585, 0.815, 0.07, 0.25),
    "hairclip": (0.25, 0.41, 0.26, 0.34),
    "glasses": (0.27, 0.73, 0.5, 0.68),
}


def _palette(attrs: list[dict]) -> dict[str, np.ndarray]:
    """Every layer's colour, planar `[3, n, 1, 1]` (or `[3, 1, 1, 1]` when shared)."""
    jitter = np.stack([a["colour_jitter"] for a in attrs])
    hair = _colour(np.clip(np.asarray([HAIR_COLOURS[a["hair_colour"]] for a in attrs]) + jitter, 0, 255))
    hair_dark = hair * 0.62
    skin = _colour([SKIN_TONES[a["skin"]] for a in attrs])
    eye = _colour([EYE_COLOURS[a["eye_colour"]] for a in attrs])
    line = _constant([0.18, 0.12, 0.14])
    return {
        "line": line,
        "hair_dark": hair_dark,
        "hair": hair,
        "neck": skin * 0.9,
        "shirt": _colour(
            np.clip(np.asarray([ACCENTS[(a["accent"] + 2) % len(ACCENTS)] for a in attrs]) * 0.8 + 30, 0, 255)
        ),
        "skin": skin,
        "blush": _colour([(250, 130, 150)]),
        "white": _constant([1.0, 1.0, 1.0]),
        "eye": eye,
        "eye_shade": eye * 0.35,
        "pupil": line * 0.6,
        "brow": hair_dark * 0.8,
        "lips": _colour([(170, 50, 60)]),
        "hair_light": np.minimum(hair * 1.25 + 0.08, 1.0),
        "accent": _colour([ACCESSORY_COLOURS[a["hair_colour"]][a["accent"]] for a in attrs]),
        "glasses": line * 1.5,
    }


def _wave(u: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """The bangs' wavy edge along u."""
    return np.abs(np.sin((u - phase) * np.pi * 7.0))


def _face_width(v: np.ndarray) -> np.ndarray:
    """The face's half width at height v: an egg, narrower towards the chin."""
    return _chin(np.clip((v - 0.52) / 0.28, 0.0, 1.0))


def _chin(below: np.ndarray) -> np.ndarray:
    """The face's half width, `below` its height under the cheeks as a fraction of the chin's."""
    return 0.25 * (1.0 - 0.38 * below**1.5)


def _glow(u: np.ndarray, v: np.ndarray, side: float) -> np.ndarray:
    """A cheek's blush."""
    return np.exp(-(((u - 0.5 - side * 0.15) / 0.055) ** 2 + ((v - 0.66) / 0.025) ** 2))


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

    def __init__(self, attrs: list[dict], windowed: bool = True, pixels: bool = True):
        self.windowed = windowed
        grid = (np.arange(SIZE, dtype=np.float32) + 0.5) / SIZE
        # Head frame: inverse of (shift, scale, tilt) applied to the pixel grid.
        dx, dy, scale, tilt = _columns(attrs, ("dx", "dy", "scale", "tilt"))
        cos, sin = np.cos(tilt), np.sin(tilt)
        # The forward map, head frame to image, for windows: one row per avatar.
        self.head = [a[:, 0, :].astype(np.float64) for a in (dx, dy, scale, cos, sin)]
        # Background: a vertical gradient.
        self.top = _colour([BACKGROUNDS[a["background"]][0] for a in attrs])
        self.bottom = _colour([BACKGROUNDS[a["background"]][1] for a in attrs])
        if not pixels:  # avatar_kernel computes the frame per avatar and paints the background itself
            self.frames = np.concatenate([dx, dy, scale, cos, sin], axis=2)[:, 0]  # [n, 5]: see avatar_kernel
            return
        gy, gx = np.meshgrid(grid, grid, indexing="ij")
        x0, y0 = gx[None] - 0.5 - dx, gy[None] - 0.55 - dy
        self.u = (cos * x0 + sin * y0) / scale + 0.5
        self.v = (-sin * x0 + cos * y0) / scale + 0.55
        t = grid[None, None, :, None]
        self.image = np.empty((3, len(attrs), SIZE, SIZE), np.float32)  # planar: see _paint
        self.image[:] = self.top * (1 - t) + self.bottom * t

    def spans(self, *boxes: tuple[float, float, float, float]) -> np.ndarray:
        """Each avatar's rows and columns `[n, len(boxes), 4]` = (row0, row1, col0, col1),
        end-exclusive, holding every pixel of head-frame box `(u0, u1, v0, v1)`: one spare
        pixel each side."""
        corners = np.float64([[(u0, v0), (u1, v0), (u0, v1), (u1, v1)] for u0, u1, v0, v1 in boxes])
        cu, cv = corners[..., 0] - 0.5, corners[..., 1] - 0.55  # [box, corner]
        dx, dy, scale, cos, sin = (a[:, :, None] for a in self.head)  # [n, 1, 1]
        x = 0.5 + dx + scale * (cos * cu - sin * cv)
        y = 0.55 + dy + scale * (sin * cu + cos * cv)
        # Pixel k sits at (k + 0.5) / SIZE.
        first = np.floor(np.stack([y.min(axis=2), x.min(axis=2)], axis=2) * SIZE - 0.5).astype(np.int64) - 1
        last = np.ceil(np.stack([y.max(axis=2), x.max(axis=2)], axis=2) * SIZE - 0.5).astype(np.int64) + 1
        start, stop = np.clip(first, 0, SIZE), np.clip(last + 1, 0, SIZE)
        return np.stack([start[..., 0], stop[..., 0], start[..., 1], stop[..., 1]], axis=2)

    def window(self, box: tuple[float, float, float, float]) -> tuple[slice, slice]:
        """Rows and columns holding every pixel of head-frame box `(u0, u1, v0, v1)` in any avatar."""
        if not self.windowed:
            return slice(0, SIZE), slice(0, SIZE)
        spans = self.spans(box)[:, 0]
        return slice(spans[:, 0].min(), spans[:, 1].max()), slice(spans[:, 2].min(), spans[:, 3].max())

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
    """Draw the avatars described by `attrs` as uint8 `[n, 96, 96, 3]`: each layer painted
    over the ones before, back to front.

    `windowed=False` draws every layer over the whole frame: the same pixels, slower."""
    canvas = _Canvas(attrs, windowed)
    colours = _palette(attrs)
    for layer in LAYERS:
        layer(canvas, attrs, colours)
    planar = canvas.image
    planar *= 255.0
    planar += 0.5
    planar = np.clip(planar, 0, 255, out=planar).astype(np.uint8)
    return np.ascontiguousarray(planar.transpose(1, 2, 3, 0))


def _attribute(attrs: list[dict], name: str) -> np.ndarray:
    """One attribute of every avatar, shaped to broadcast over their pixels."""
    return np.asarray([a[name] for a in attrs])[:, None, None]


def _back_hair(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Hair behind the head, by style."""
    whole = canvas.window((-1.0, 2.0, -1.0, 2.0))  # the back hair reaches nearly every pixel
    style = _attribute(attrs, "hair_style")
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
    canvas.paint(whole, _cover(back + 0.006), colours["line"])
    canvas.paint(whole, _cover(back), colours["hair_dark"])


def _cat_ears(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Cat ears behind the hairline: outlined triangles in the hair colour, pink inside."""
    rows = _rows(_attribute(attrs, "accessory"), "cat_ears")
    for side in (-1.0, 1.0):
        window = canvas.window(BOXES[f"ear {side:+.0f}"])
        u, v = canvas.uv(window, rows)
        across = np.abs(u - (0.5 + side * EAR_X))
        ear = np.maximum(v - 0.24, (across * 2.4 - (v - 0.03)) * 0.385)  # 0.385: 1 / √(1 + 2.4²)
        canvas.paint(window, _cover(ear - OUTLINE), colours["line"], rows)
        canvas.paint(window, _cover(ear), colours["hair"], rows)
        inner = np.maximum(v - 0.2, (across * 2.4 - (v - 0.09)) * 0.385)
        canvas.paint(window, _cover(inner), colours["blush"], rows)


def _neck_and_shirt(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Neck and shoulders."""
    window = canvas.window(BOXES["neck"])
    u, v = canvas.uv(window)
    canvas.paint(window, _cover(np.maximum(np.abs(u - 0.5) - 0.07, np.abs(v - 0.82) - 0.12)), colours["neck"])
    window = canvas.window(BOXES["shirt"])
    u, v = canvas.uv(window)
    canvas.paint(window, _cover(_ellipse(u, v, 0.5, 1.2, 0.44, 0.3)), colours["shirt"])


def _face(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Face: an egg shape, narrower towards the chin, with a thin outline."""
    window = canvas.window(BOXES["face"])
    u, v = canvas.uv(window)
    face = _ellipse(u, v, 0.5, 0.52, _face_width(v), 0.28)
    canvas.paint(window, _cover(face), colours["line"])
    canvas.paint(window, _cover(face + 0.01), colours["skin"])


def _blush(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Blush: a glow cut off below 0.02 (within 1.98 radii)."""
    rows = _rows(_attribute(attrs, "blush"), True)
    for side in (-1.0, 1.0):
        window = canvas.window(BOXES[f"blush {side:+.0f}"])
        glow = _glow(*canvas.uv(window, rows), side)
        canvas.paint(window, np.where(glow > 0.02, 0.45 * glow, 0.0), colours["blush"], rows)


def _eyes(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Eyes: eyelid line, white, iris with a darker top, pupil and a highlight, and a brow;
    all within 0.095 of the eye's centre (eye size <= 1.15, gap 0.105-0.125)."""
    size = _column(attrs, "eye_size")
    gap = _column(attrs, "eye_gap")
    for side in (-1.0, 1.0):
        ex, ey = 0.5 + side * gap, 0.585
        window = canvas.window(BOXES[f"eye {side:+.0f}"])
        u, v = canvas.uv(window)
        lid = _ellipse(u, v, ex, ey - 0.004, 0.072 * size, 0.072 * size)
        canvas.paint(window, _cover(np.maximum(lid, v - ey + 0.01)), colours["line"])
        white = _ellipse(u, v, ex, ey + 0.008, 0.062 * size, 0.066 * size)
        canvas.paint(window, _cover(white), colours["white"])
        iris = _ellipse(u, v, ex, ey + 0.014, 0.045 * size, 0.06 * size)
        canvas.paint(window, _cover(np.maximum(iris, white)), colours["eye"])
        canvas.paint(window, 0.5 * _cover(np.maximum(np.maximum(iris, white), v - ey + 0.005)), colours["eye_shade"])
        canvas.paint(window, _cover(_ellipse(u, v, ex, ey + 0.02, 0.019 * size, 0.032 * size)), colours["pupil"])
        highlight = _ellipse(u, v, ex - 0.016 * size, ey - 0.008, 0.013, 0.013)
        canvas.paint(window, _cover(highlight), colours["white"])
        brow = np.maximum(np.abs(_ellipse(u, v, ex, ey + 0.02, 0.075, 0.1)) - 0.004, v - ey + 0.075)
        canvas.paint(window, _cover(np.maximum(brow, np.abs(u - ex) - 0.05)), colours["brow"])


def _mouth(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Mouth: a smile, open, or flat."""
    mouth = _attribute(attrs, "mouth")
    window = canvas.window(BOXES["mouth"])
    lips = colours["lips"]
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


def _bangs(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Bangs: hair over the forehead cut by a wavy line, plus side locks, plus a highlight;
    all inside the crown."""
    crown_window = canvas.window(BOXES["crown"])
    u, v = canvas.uv(crown_window)
    bangs = _attribute(attrs, "bangs")
    wave = _wave(u, _column(attrs, "bang_phase"))
    edge = np.where(bangs == "spiky", 0.33 + 0.1 * wave, 0.4 + 0.02 * wave)
    edge = np.where(bangs == "swept", 0.3 + 0.2 * (u - 0.3) * _column(attrs, "swept_dir") + 0.05 * wave, edge)
    crown = _ellipse(u, v, 0.5, 0.47, 0.37, 0.37)
    front = np.maximum(crown, v - edge)
    locks = np.minimum(
        np.maximum(np.abs(u - 0.255) - 0.045 * (1.1 - (v - 0.35) * 1.4), np.abs(v - 0.55) - 0.2),
        np.maximum(np.abs(u - 0.745) - 0.045 * (1.1 - (v - 0.35) * 1.4), np.abs(v - 0.55) - 0.2),
    )
    front = np.minimum(front, np.maximum(locks, crown - 0.02))
    canvas.paint(crown_window, _cover(front), colours["hair"])
    window = canvas.window(BOXES["shine"])
    inner = tuple(slice(w.start - c.start, w.stop - c.start) for w, c in zip(window, crown_window))
    u, v = canvas.uv(window)
    front = front[:, inner[0], inner[1]]
    shine = np.maximum(np.abs(_ellipse(u, v, 0.5, 0.42, 0.27, 0.25)) - 0.012, np.maximum(front, v - 0.3))
    canvas.paint(window, 0.7 * _cover(shine), colours["hair_light"])


def _accessories(canvas: _Canvas, attrs: list[dict], colours: dict[str, np.ndarray]) -> None:
    """Accessories in front of the hair: a bow, a hairclip, glasses (cat ears are behind it).
    The bow and the clip have a dark outline and a colour away from the hair's, so that
    they read at 32 px on any hair."""
    accessory = _attribute(attrs, "accessory")
    window = canvas.window(BOXES["bow"])
    rows = _rows(accessory, "bow")
    u, v = canvas.uv(window, rows)
    across = np.abs(u - BOW_KNOT[0])
    wings = np.maximum(np.abs(v - BOW_KNOT[1]) - 0.55 * across - 0.012, across - 0.1)  # widening outwards
    bow = np.minimum(wings, _ellipse(u, v, BOW_KNOT[0], BOW_KNOT[1], 0.022, 0.022))
    canvas.paint(window, _cover(bow - OUTLINE), colours["line"], rows)
    canvas.paint(window, _cover(bow), colours["accent"], rows)
    window = canvas.window(BOXES["hairclip"])
    rows = _rows(accessory, "hairclip")
    u, v = canvas.uv(window, rows)
    clip = np.maximum(np.abs(u - 0.33) - 0.065, np.abs(v - 0.3) - 0.022)
    canvas.paint(window, _cover(clip - OUTLINE), colours["line"], rows)
    canvas.paint(window, _cover(clip), colours["accent"], rows)
    window = canvas.window(BOXES["glasses"])
    rows = _rows(accessory, "glasses")
    u, v = canvas.uv(window, rows)
    gap_rows = _column(attrs, "eye_gap")[rows]
    glasses = (
        np.minimum(
            np.abs(_ellipse(u, v, 0.5 - gap_rows, 0.59, 0.085, 0.07)),
            np.abs(_ellipse(u, v, 0.5 + gap_rows, 0.59, 0.085, 0.07)),
        )
        - 0.004
    )
    glasses = np.minimum(glasses, np.maximum(np.abs(v - 0.58) - 0.003, np.abs(u - 0.5) - gap_rows + 0.085))
    canvas.paint(window, _cover(glasses), colours["glasses"], rows)


LAYERS = (_back_hair, _cat_ears, _neck_and_shirt, _face, _blush, _eyes, _mouth, _bangs, _accessories)  # back to front


def drawing_compiled() -> bool:
    """Whether the compiled drawing is built already (else the next drawing first compiles
    it, once per installation, which is worth telling the user)."""
    from kgan.data import avatar_kernel

    return avatar_kernel.cached()


def render_compiled(attrs: list[dict]) -> np.ndarray:
    """`render`'s avatars, byte for byte, drawn by the compiled layers of
    `kgan.data.avatar_kernel` (several times faster)."""
    from kgan.data import avatar_kernel as kernel  # numba compiles on first use

    canvas = _Canvas(attrs, pixels=False)
    n = len(attrs)
    palette = {**_palette(attrs), "top": canvas.top, "bottom": canvas.bottom}
    colours = np.stack([np.broadcast_to(palette[name][:, :, 0, 0].T, (n, 3)) for name in kernel.COLOURS], axis=1)
    kinds = np.asarray([[CHOICES[k].index(a[k]) for k in kernel.KINDS] for a in attrs], dtype=np.int64)
    params = np.concatenate(_columns(attrs, kernel.PARAMS), axis=2)[:, 0]
    windows = canvas.spans(*(BOXES[name] for name in kernel.WINDOWS))
    area = dict(zip(kernel.WINDOWS, ((windows[..., 1] - windows[..., 0]) * (windows[..., 3] - windows[..., 2])).sum(0)))
    # **, sin and exp through numpy, as `render` evaluates them: numpy's float32 versions
    # differ from the C library's in the last bit.
    widths = np.empty(area["face"], np.float32)
    chin, chin_at = np.empty(area["face"], np.float32), np.empty(area["face"], np.int64)
    waves = np.empty(area["crown"], np.float32)
    glows = np.empty(area["blush -1"] + area["blush +1"], np.float32)
    chins, wave_count, glow_count = kernel.arguments(
        canvas.frames, kinds, params, windows, widths, chin, chin_at, waves, glows
    )
    widths[chin_at[:chins]] = _chin(chin[:chins])
    np.sin(waves[:wave_count], out=waves[:wave_count])
    np.exp(glows[:glow_count], out=glows[:glow_count])
    out = np.empty((n, SIZE, SIZE, 3), np.uint8)
    kernel.paint_layers(canvas.frames, colours, kinds, params, windows, widths, waves, glows, out)
    return out


BATCH = 128  # avatars per drawing task: enough to amortise numpy's calls, small enough for the cache


def generate(count: int, seed: int = 0, workers: int | None = None) -> tuple[np.ndarray, list[dict]]:
    """`count` avatars as uint8 `[count, 96, 96, 3]` and their attributes."""
    images = np.empty((count, SIZE, SIZE, 3), np.uint8)
    attrs: list[dict] = []
    for batch in drawn_batches(count, seed, workers):
        images[batch.start : batch.start + len(batch.images)] = batch.images
        attrs += batch.attrs
    return images, attrs


class DrawnBatch(NamedTuple):
    start: int  # index of the first avatar
    attrs: list[dict]
    images: np.ndarray  # uint8 [n, 96, 96, 3]
    hashes: list[str] | None  # each image's `content_hash`, when asked for


def drawn_batches(count: int, seed: int, workers: int | None = None, hashes: bool = False) -> Iterator[DrawnBatch]:
    """Avatars 0..count-1 of `seed`, `BATCH` at a time and in order.

    With enough batches, `workers` (default: one per usable core) worker processes draw the
    attributes (`kgan.system.workers`; Python, so threads would queue for the interpreter lock)
    while as many threads here draw the avatars (the compiled drawing releases the lock, and
    one process loads it once: about a second)."""
    starts = range(0, count, BATCH)
    workers = usable_cores() if workers is None else workers
    options = {"seed": seed, "count": count}
    if workers <= 1 or len(starts) < 2 * workers:
        for start in starts:
            yield _drawn(start, attributes_request(options, start), hashes)
        return
    with (
        OrderedWorkers("kgan.data.synthetic:attributes_request", "attribute-drawing", workers, options) as pool,
        ThreadPoolExecutor(workers, thread_name_prefix="kgan-draw") as threads,
    ):
        threads.submit(_load_compiled)  # while the workers start (a failure shows in the batches)
        pending: deque[Future] = deque()
        try:
            for start, attrs in pool.map((start, start) for start in starts):
                pending.append(threads.submit(_drawn, start, attrs, hashes))
                if len(pending) > 2 * workers:  # a few batches ahead, not the whole dataset in memory
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # Ctrl-C or an early stop: drop the batches not yet begun
            for future in pending:
                future.cancel()


def attributes_request(options: dict, start: int) -> list[dict]:
    """An attribute-drawing process's task (`kgan.system.workers`): those of the batch from `start`."""
    return [draw_attributes(options["seed"], i) for i in range(start, min(start + BATCH, options["count"]))]


def _load_compiled() -> None:
    """Load (or compile, the first time) the compiled drawing."""
    render_compiled([draw_attributes(0, 0)])


def _drawn(start: int, attrs: list[dict], hashes: bool) -> DrawnBatch:
    images = render_compiled(attrs)
    return DrawnBatch(start, attrs, images, [content_hash(image) for image in images] if hashes else None)


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
            for batch in drawn_batches(count, seed, workers, hashes=True):
                for offset, (image, attrs, digest) in enumerate(zip(batch.images, batch.attrs, batch.hashes)):
                    writer.report.scanned += 1
                    if writer.add(f"avatar-{batch.start + offset:06d}", image, digest):
                        kept.append(attrs)
                if progress:
                    progress(writer.report.scanned)
        finally:
            writer.close()
        writer.finish(
            source=f"synthetic:seed={seed}",
            seed=seed,
            val=val,
            test=test,
            extra={"synthetic": {"seed": seed, "count": count, "generator_version": GENERATOR_VERSION}},
        )
        with open(tmp / "attributes.csv", "w", newline="") as handle:
            table = csv.writer(handle)
            table.writerow(["index", "name", *ATTRIBUTES])
            for index, (name, attrs_row) in enumerate(zip(writer.names, kept)):
                table.writerow([index, name, *(attrs_row[key] for key in ATTRIBUTES)])
    return PreparedDataset(out)
