"""The synthetic avatars' layers compiled (numba), one avatar and one row at a time.

`synthetic.render` states the drawing readably, as numpy passes over a chunk: each
layer's distance, coverage and compositing make a dozen temporaries the size of the
layer's window, and memory traffic is most of the time. Here each layer runs over one
row of one avatar's own window at a time, in loops the compiler turns into SIMD
instructions, with the avatar's image in cache. Every operation is the float32 operation
numpy performs there, in the same order (numpy rounds a Python constant to float32
before using it with a float32 array: hence `F(...)` around each constant), so the bytes
are the same. What needs `sin`, `exp` or `**` (the bangs' wave, the blush, the face's
width) arrives computed by numpy, whose float32 versions differ from the C library's in
the last bit.

`error_model="numpy"`: division without Python's zero check, which would stop the loops
from vectorising (no divisor here is zero). No fast-math: it would reorder arithmetic.
Compiled on first use and cached beside this file (numba `cache=True`).
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

F = np.float32
SIZE = 96

# Colour slots, per avatar: `colours[i, slot] = (r, g, b)` in [0, 1], named as in `synthetic._palette`.
COLOURS = ("line", "hair_dark", "hair", "neck", "shirt", "skin", "blush", "white")
COLOURS += ("eye", "eye_shade", "pupil", "brow", "lips", "hair_light", "accent", "glasses", "top", "bottom")
LINE, HAIR_DARK, HAIR, NECK, SHIRT, SKIN, BLUSH, WHITE = range(8)
EYE, EYE_SHADE, PUPIL, BROW, LIPS, HAIR_LIGHT, ACCENT, GLASSES, TOP, BOTTOM = range(8, 18)
# Discrete attributes, per avatar: `kinds[i, k]` is the value's index in synthetic's tuple.
KINDS = ("hair_style", "bangs", "mouth", "accessory", "blush")
STYLE, BANGS, MOUTH, ACCESSORY, BLUSHING = range(5)
SHORT, LONG, TWINTAILS, BOB = range(4)  # synthetic.HAIR_STYLES
STRAIGHT, SPIKY, SWEPT = range(3)  # synthetic.BANGS
SMILE, OPEN, FLAT = range(3)  # synthetic.MOUTHS
NO_ACCESSORY, BOW, HAIRCLIP, CAT_EARS, SPECTACLES = range(5)  # synthetic.ACCESSORIES
# Continuous jitter, per avatar: `params[i, p]`.
PARAMS = ("eye_size", "eye_gap", "swept_dir", "bang_phase")
EYE_SIZE, EYE_GAP, SWEPT_DIR, BANG_PHASE = range(4)
# Windows, per avatar: `windows[i, w] = (row0, row1, col0, col1)`, end-exclusive, of `synthetic.BOXES`.
WINDOWS = ("ear -1", "ear +1", "neck", "shirt", "face", "blush -1", "blush +1", "eye -1", "eye +1")
WINDOWS += ("mouth", "crown", "shine", "bow", "hairclip", "glasses")
EAR_LEFT, EAR_RIGHT, NECK_BOX, SHIRT_BOX, FACE_BOX, BLUSH_LEFT, BLUSH_RIGHT = range(7)
EYE_LEFT, EYE_RIGHT, MOUTH_BOX, CROWN_BOX, SHINE_BOX, BOW_BOX, CLIP_BOX, GLASSES_BOX = range(7, 15)

EY = 0.585  # the eyes' height


JIT = {"cache": True, "error_model": "numpy", "nogil": True}  # nogil: drawing threads run in parallel


@njit(**JIT)
def _ellipse(u, v, cx, cy, rx, ry):
    """`synthetic._ellipse` for one pixel."""
    a = (u - cx) / rx
    b = (v - cy) / ry
    return (np.sqrt(a * a + b * b) - F(1.0)) * min(rx, ry)


@njit(**JIT)
def _cover(distance):
    return min(max(F(0.5) - distance * F(SIZE), F(0.0)), F(1.0))


@njit(**JIT)
def _blend(image, y, c0, c1, alpha, colour):
    """`synthetic._paint` along row y from column c0 to c1: region + (colour - region) * alpha,
    with alpha[0] for column c0. Where alpha is 0 the pixel keeps its value, so no branch."""
    for c in range(3):
        row = image[c, y, c0:c1]
        level = colour[c]
        for x in range(row.shape[0]):
            row[x] = row[x] + (level - row[x]) * alpha[x]


# The head frame, per avatar: `frames[i] = (dx, dy, scale, cos(tilt), sin(tilt))`.
DX, DY, SCALE, COS, SIN = range(5)


@njit(**JIT)
def _head_frame(frame, u, v):
    """Each pixel's head-frame coordinates into `u`, `v` `[96, 96]`, as `synthetic._Canvas`:
    the inverse of (shift, scale, tilt) applied to the pixel grid."""
    c, s, k = frame[COS], frame[SIN], frame[SCALE]
    x0 = np.empty(SIZE, np.float32)
    for x in range(SIZE):
        x0[x] = ((F(x) + F(0.5)) / F(SIZE) - F(0.5)) - frame[DX]
    for y in range(SIZE):
        y0 = ((F(y) + F(0.5)) / F(SIZE) - F(0.55)) - frame[DY]
        ur, vr = u[y], v[y]
        for x in range(SIZE):
            ur[x] = (c * x0[x] + s * y0) / k + F(0.5)
            vr[x] = (-s * x0[x] + c * y0) / k + F(0.55)


@njit(**JIT)
def _background(image, top, bottom):
    for y in range(SIZE):
        t = (F(y) + F(0.5)) / F(SIZE)
        for c in range(3):
            image[c, y, :] = top[c] * (F(1.0) - t) + bottom[c] * t


@njit(**JIT)
def _back_hair(u, v, image, style, line, dark, d, a):
    for y in range(SIZE):
        ur, vr = u[y], v[y]
        for x in range(SIZE):
            d[x] = _ellipse(ur[x], vr[x], F(0.5), F(0.47), F(0.37), F(0.37))
        if style == LONG:
            for x in range(SIZE):
                d[x] = min(d[x], max(abs(ur[x] - F(0.5)) - F(0.36), abs(vr[x] - F(0.78)) - F(0.32)))
        elif style == BOB:
            for x in range(SIZE):
                d[x] = max(_ellipse(ur[x], vr[x], F(0.5), F(0.52), F(0.39), F(0.36)), vr[x] - F(0.8))
        elif style == TWINTAILS:
            for x in range(SIZE):
                tails = min(
                    _ellipse(ur[x], vr[x], F(0.13), F(0.7), F(0.09), F(0.24)),
                    _ellipse(ur[x], vr[x], F(0.87), F(0.7), F(0.09), F(0.24)),
                )
                d[x] = min(d[x], tails)
        for x in range(SIZE):
            a[x] = _cover(d[x] + F(0.006))
        _blend(image, y, 0, SIZE, a, line)
        for x in range(SIZE):
            a[x] = _cover(d[x])
        _blend(image, y, 0, SIZE, a, dark)


@njit(**JIT)
def _ear(u, v, image, window, cx, line, hair, inside, d, a):
    r0, r1, c0, c1 = window
    for y in range(r0, r1):
        ur, vr = u[y, c0:c1], v[y, c0:c1]
        for x in range(c1 - c0):
            d[x] = abs(ur[x] - cx)
        for x in range(c1 - c0):
            a[x] = _cover(max(vr[x] - F(0.24), (d[x] * F(2.4) - (vr[x] - F(0.03))) * F(0.385)) - F(0.007))
        _blend(image, y, c0, c1, a, line)
        for x in range(c1 - c0):
            a[x] = _cover(max(vr[x] - F(0.24), (d[x] * F(2.4) - (vr[x] - F(0.03))) * F(0.385)))
        _blend(image, y, c0, c1, a, hair)
        for x in range(c1 - c0):
            a[x] = _cover(max(vr[x] - F(0.2), (d[x] * F(2.4) - (vr[x] - F(0.09))) * F(0.385)))
        _blend(image, y, c0, c1, a, inside)


@njit(**JIT)
def _neck_and_shirt(u, v, image, neck_window, shirt_window, neck, shirt, a):
    r0, r1, c0, c1 = neck_window
    for y in range(r0, r1):
        ur, vr = u[y, c0:c1], v[y, c0:c1]
        for x in range(c1 - c0):
            a[x] = _cover(max(abs(ur[x] - F(0.5)) - F(0.07), abs(vr[x] - F(0.82)) - F(0.12)))
        _blend(image, y, c0, c1, a, neck)
    r0, r1, c0, c1 = shirt_window
    for y in range(r0, r1):
        ur, vr = u[y, c0:c1], v[y, c0:c1]
        for x in range(c1 - c0):
            a[x] = _cover(_ellipse(ur[x], vr[x], F(0.5), F(1.2), F(0.44), F(0.3)))
        _blend(image, y, c0, c1, a, shirt)


@njit(**JIT)
def _face(u, v, image, window, width, line, skin, d, a):
    """`width` holds the face's half width over the window, row by row; returns how many
    values it used."""
    r0, r1, c0, c1 = window
    used = 0
    for y in range(r0, r1):
        ur, vr, wr = u[y, c0:c1], v[y, c0:c1], width[used : used + c1 - c0]
        used += c1 - c0
        for x in range(c1 - c0):
            d[x] = _ellipse(ur[x], vr[x], F(0.5), F(0.52), wr[x], F(0.28))
            a[x] = _cover(d[x])
        _blend(image, y, c0, c1, a, line)
        for x in range(c1 - c0):
            a[x] = _cover(d[x] + F(0.01))
        _blend(image, y, c0, c1, a, skin)
    return used


@njit(**JIT)
def _blush(image, window, glow, colour, a):
    """`glow` holds the window's values row by row; returns how many it used."""
    r0, r1, c0, c1 = window
    used = 0
    for y in range(r0, r1):
        gr = glow[used : used + c1 - c0]
        for x in range(c1 - c0):
            g = gr[x]
            a[x] = F(0.45) * g if g > F(0.02) else F(0.0)
        _blend(image, y, c0, c1, a, colour)
        used += c1 - c0
    return used


@njit(**JIT)
def _eye(u, v, image, window, ex, size, colour, white, iris, a):
    r0, r1, c0, c1 = window
    for y in range(r0, r1):
        ur, vr = u[y, c0:c1], v[y, c0:c1]
        for x in range(c1 - c0):
            lid = _ellipse(ur[x], vr[x], ex, F(EY - 0.004), F(0.072) * size, F(0.072) * size)
            a[x] = _cover(max(lid, (vr[x] - F(EY)) + F(0.01)))
        _blend(image, y, c0, c1, a, colour[LINE])
        for x in range(c1 - c0):
            white[x] = _ellipse(ur[x], vr[x], ex, F(EY + 0.008), F(0.062) * size, F(0.066) * size)
            a[x] = _cover(white[x])
        _blend(image, y, c0, c1, a, colour[WHITE])
        for x in range(c1 - c0):
            iris[x] = _ellipse(ur[x], vr[x], ex, F(EY + 0.014), F(0.045) * size, F(0.06) * size)
            a[x] = _cover(max(iris[x], white[x]))
        _blend(image, y, c0, c1, a, colour[EYE])
        for x in range(c1 - c0):
            a[x] = F(0.5) * _cover(max(max(iris[x], white[x]), (vr[x] - F(EY)) + F(0.005)))
        _blend(image, y, c0, c1, a, colour[EYE_SHADE])
        for x in range(c1 - c0):
            a[x] = _cover(_ellipse(ur[x], vr[x], ex, F(EY + 0.02), F(0.019) * size, F(0.032) * size))
        _blend(image, y, c0, c1, a, colour[PUPIL])
        for x in range(c1 - c0):
            a[x] = _cover(_ellipse(ur[x], vr[x], ex - F(0.016) * size, F(EY - 0.008), F(0.013), F(0.013)))
        _blend(image, y, c0, c1, a, colour[WHITE])
        for x in range(c1 - c0):
            rim = abs(_ellipse(ur[x], vr[x], ex, F(EY + 0.02), F(0.075), F(0.1))) - F(0.004)
            brow = max(rim, (vr[x] - F(EY)) + F(0.075))
            a[x] = _cover(max(brow, abs(ur[x] - ex) - F(0.05)))
        _blend(image, y, c0, c1, a, colour[BROW])


@njit(**JIT)
def _mouth(u, v, image, window, mouth, lips, a):
    r0, r1, c0, c1 = window
    for y in range(r0, r1):
        ur, vr = u[y, c0:c1], v[y, c0:c1]
        if mouth == SMILE:
            for x in range(c1 - c0):
                rim = abs(_ellipse(ur[x], vr[x], F(0.5), F(0.715), F(0.035), F(0.02))) - F(0.003)
                a[x] = _cover(max(rim, F(0.72) - vr[x]))
        elif mouth == OPEN:
            for x in range(c1 - c0):
                a[x] = _cover(_ellipse(ur[x], vr[x], F(0.5), F(0.735), F(0.022), F(0.017)))
        else:
            for x in range(c1 - c0):
                a[x] = _cover(max(abs(vr[x] - F(0.74)) - F(0.003), abs(ur[x] - F(0.5)) - F(0.022)))
        _blend(image, y, c0, c1, a, lips)


@njit(**JIT)
def _bangs(u, v, image, window, shine_window, wave, bangs, swept_dir, hair, light, front, a):
    """Hair over the forehead, side locks, and the highlight inside them (its window lies
    inside the crown's, and it needs the bangs' distance). `wave` holds the sine of the
    wave's argument over the window, row by row (the wave is its absolute value); returns
    how many values it used."""
    r0, r1, c0, c1 = window
    s0, s1, sc0, sc1 = shine_window
    used = 0
    for y in range(r0, r1):
        ur, vr = u[y, c0:c1], v[y, c0:c1]
        wr = wave[used : used + c1 - c0]
        used += c1 - c0
        if bangs == SPIKY:
            for x in range(c1 - c0):
                front[x] = F(0.33) + F(0.1) * abs(wr[x])
        elif bangs == SWEPT:
            for x in range(c1 - c0):
                front[x] = (F(0.3) + F(0.2) * (ur[x] - F(0.3)) * swept_dir) + F(0.05) * abs(wr[x])
        else:
            for x in range(c1 - c0):
                front[x] = F(0.4) + F(0.02) * abs(wr[x])
        for x in range(c1 - c0):  # front[x] held the edge
            crown = _ellipse(ur[x], vr[x], F(0.5), F(0.47), F(0.37), F(0.37))
            taper = F(0.045) * (F(1.1) - (vr[x] - F(0.35)) * F(1.4))
            height = abs(vr[x] - F(0.55)) - F(0.2)
            locks = min(max(abs(ur[x] - F(0.255)) - taper, height), max(abs(ur[x] - F(0.745)) - taper, height))
            front[x] = min(max(crown, vr[x] - front[x]), max(locks, crown - F(0.02)))
            a[x] = _cover(front[x])
        _blend(image, y, c0, c1, a, hair)
        if s0 <= y < s1:
            ur, vr, fr = u[y, sc0:sc1], v[y, sc0:sc1], front[sc0 - c0 :]
            for x in range(sc1 - sc0):
                rim = abs(_ellipse(ur[x], vr[x], F(0.5), F(0.42), F(0.27), F(0.25))) - F(0.012)
                a[x] = F(0.7) * _cover(max(rim, max(fr[x], vr[x] - F(0.3))))
            _blend(image, y, sc0, sc1, a, light)
    return used


@njit(**JIT)
def _outlined(image, y, c0, c1, distance, line, fill, a):
    """`synthetic._accessories`' outlined shapes along row y: the rim, then the fill."""
    for x in range(c1 - c0):
        a[x] = _cover(distance[x] - F(0.007))
    _blend(image, y, c0, c1, a, line)
    for x in range(c1 - c0):
        a[x] = _cover(distance[x])
    _blend(image, y, c0, c1, a, fill)


@njit(**JIT)
def _accessory(u, v, image, windows, accessory, gap, line, accent, glasses, d, a):
    if accessory == BOW:
        r0, r1, c0, c1 = windows[BOW_BOX]
        for y in range(r0, r1):
            ur, vr = u[y, c0:c1], v[y, c0:c1]
            for x in range(c1 - c0):
                pu, pv = ur[x], vr[x]
                across = abs(pu - F(0.7))
                wings = max((abs(pv - F(0.16)) - F(0.55) * across) - F(0.012), across - F(0.1))
                d[x] = min(wings, _ellipse(pu, pv, F(0.7), F(0.16), F(0.022), F(0.022)))
            _outlined(image, y, c0, c1, d, line, accent, a)
    elif accessory == HAIRCLIP:
        r0, r1, c0, c1 = windows[CLIP_BOX]
        for y in range(r0, r1):
            ur, vr = u[y, c0:c1], v[y, c0:c1]
            for x in range(c1 - c0):
                d[x] = max(abs(ur[x] - F(0.33)) - F(0.065), abs(vr[x] - F(0.3)) - F(0.022))
            _outlined(image, y, c0, c1, d, line, accent, a)
    elif accessory == SPECTACLES:
        r0, r1, c0, c1 = windows[GLASSES_BOX]
        for y in range(r0, r1):
            ur, vr = u[y, c0:c1], v[y, c0:c1]
            for x in range(c1 - c0):
                pu, pv = ur[x], vr[x]
                rims = min(
                    abs(_ellipse(pu, pv, F(0.5) - gap, F(0.59), F(0.085), F(0.07))),
                    abs(_ellipse(pu, pv, F(0.5) + gap, F(0.59), F(0.085), F(0.07))),
                )
                bridge = max(abs(pv - F(0.58)) - F(0.003), (abs(pu - F(0.5)) - gap) + F(0.085))
                a[x] = _cover(min(rims - F(0.004), bridge))
            _blend(image, y, c0, c1, a, glasses)


@njit(**JIT)
def _to_bytes(image, out):
    """Levels to uint8, channels last: round half up, clipped. (Written into one flat row
    through an int32, which the compiler vectorises; uint8 conversions per channel it does not.)"""
    flat = out.reshape(-1)
    for y in range(SIZE):
        r, g, b = image[0, y], image[1, y], image[2, y]
        row = flat[y * SIZE * 3 : (y + 1) * SIZE * 3]
        for x in range(SIZE):
            row[3 * x] = np.int32(min(max(r[x] * F(255.0) + F(0.5), F(0.0)), F(255.0)))
            row[3 * x + 1] = np.int32(min(max(g[x] * F(255.0) + F(0.5), F(0.0)), F(255.0)))
            row[3 * x + 2] = np.int32(min(max(b[x] * F(255.0) + F(0.5), F(0.0)), F(255.0)))


@njit(**JIT)
def arguments(frames, kinds, params, windows, widths, chin, chin_at, waves, glows):
    """What the layers need from `**`, `sin` and `exp`, for numpy to evaluate, window by
    window and row by row: the face's half width per pixel into `widths`, and the arguments
    of the bangs' wave and the blush's glow into `waves` and `glows`. The width is exact
    where below is 0 or 1 (0 and 1 to any power) and approximate elsewhere; numpy's `**`
    replaces it (`chin` values at `chin_at` positions of `widths`) unless the face's
    distance lies beyond either antialiasing edge, where both face layers cover the pixel
    fully or not at all whatever the power's last bit. Returns how many values of `chin`,
    `waves` and `glows` it wrote."""
    inside, outside = F(-0.5 / SIZE - 0.01 - 1e-5), F(0.5 / SIZE + 1e-5)  # 1e-5: far above round-off
    u, v = np.empty((SIZE, SIZE), np.float32), np.empty((SIZE, SIZE), np.float32)
    below, distance = np.empty(SIZE, np.float32), np.empty(SIZE, np.float32)
    chins = width_count = wave_count = glow_count = 0
    for i in range(frames.shape[0]):
        _head_frame(frames[i], u, v)
        r0, r1, c0, c1 = windows[i, FACE_BOX]
        for y in range(r0, r1):
            ur, vr, wr = u[y, c0:c1], v[y, c0:c1], widths[width_count : width_count + c1 - c0]
            for x in range(c1 - c0):  # below ** 1.5 as sqrt(below) * below in float64: exact at 0 and 1
                below[x] = min(max((vr[x] - F(0.52)) / F(0.28), F(0.0)), F(1.0))
                wr[x] = F(0.25) * (F(1.0) - F(0.38) * F(np.sqrt(np.float64(below[x])) * np.float64(below[x])))
                distance[x] = _ellipse(ur[x], vr[x], F(0.5), F(0.52), wr[x], F(0.28))
            for x in range(c1 - c0):
                if F(0.0) < below[x] < F(1.0) and inside <= distance[x] <= outside:
                    chin[chins] = below[x]
                    chin_at[chins] = width_count + x
                    chins += 1
            width_count += c1 - c0
        r0, r1, c0, c1 = windows[i, CROWN_BOX]
        for y in range(r0, r1):
            ur, dst = u[y, c0:c1], waves[wave_count : wave_count + c1 - c0]
            for x in range(c1 - c0):
                dst[x] = ((ur[x] - params[i, BANG_PHASE]) * F(np.pi)) * F(7.0)
            wave_count += c1 - c0
        if kinds[i, BLUSHING]:
            for side, box in ((-1.0, BLUSH_LEFT), (1.0, BLUSH_RIGHT)):
                r0, r1, c0, c1 = windows[i, box]
                for y in range(r0, r1):
                    ur, vr, dst = u[y, c0:c1], v[y, c0:c1], glows[glow_count : glow_count + c1 - c0]
                    for x in range(c1 - c0):
                        across = ((ur[x] - F(0.5)) - F(side * 0.15)) / F(0.055)
                        down = (vr[x] - F(0.66)) / F(0.025)
                        dst[x] = -(across * across + down * down)
                    glow_count += c1 - c0
    return chins, wave_count, glow_count


@njit(**JIT)
def paint_layers(frames, colours, kinds, params, windows, widths, waves, glows, out):
    """Draw the avatars into uint8 `out` `[n, 96, 96, 3]`; `widths`, `waves` and `glows` are
    what `arguments` asked numpy for: the face's half width, the sines of the bangs' wave
    and the blush's glow."""
    u, v = np.empty((SIZE, SIZE), np.float32), np.empty((SIZE, SIZE), np.float32)
    image = np.empty((3, SIZE, SIZE), np.float32)  # one avatar, planar
    a, d, e = np.empty(SIZE, np.float32), np.empty(SIZE, np.float32), np.empty(SIZE, np.float32)
    width_at = wave_at = glow_at = 0
    for i in range(frames.shape[0]):
        _head_frame(frames[i], u, v)
        colour, box = colours[i], windows[i]
        size, gap = params[i, EYE_SIZE], params[i, EYE_GAP]
        _background(image, colour[TOP], colour[BOTTOM])
        _back_hair(u, v, image, kinds[i, STYLE], colour[LINE], colour[HAIR_DARK], d, a)
        if kinds[i, ACCESSORY] == CAT_EARS:  # behind the hairline, in the hair colour
            _ear(u, v, image, box[EAR_LEFT], F(0.5 - 0.2), colour[LINE], colour[HAIR], colour[BLUSH], d, a)
            _ear(u, v, image, box[EAR_RIGHT], F(0.5 + 0.2), colour[LINE], colour[HAIR], colour[BLUSH], d, a)
        _neck_and_shirt(u, v, image, box[NECK_BOX], box[SHIRT_BOX], colour[NECK], colour[SHIRT], a)
        width_at += _face(u, v, image, box[FACE_BOX], widths[width_at:], colour[LINE], colour[SKIN], d, a)
        if kinds[i, BLUSHING]:
            glow_at += _blush(image, box[BLUSH_LEFT], glows[glow_at:], colour[BLUSH], a)
            glow_at += _blush(image, box[BLUSH_RIGHT], glows[glow_at:], colour[BLUSH], a)
        _eye(u, v, image, box[EYE_LEFT], F(0.5) - gap, size, colour, d, e, a)  # 0.5 + (-1) * gap
        _eye(u, v, image, box[EYE_RIGHT], F(0.5) + gap, size, colour, d, e, a)
        _mouth(u, v, image, box[MOUTH_BOX], kinds[i, MOUTH], colour[LIPS], a)
        bangs, swept_dir = kinds[i, BANGS], params[i, SWEPT_DIR]
        crown, shine = box[CROWN_BOX], box[SHINE_BOX]
        wave_at += _bangs(
            u, v, image, crown, shine, waves[wave_at:], bangs, swept_dir, colour[HAIR], colour[HAIR_LIGHT], d, a
        )
        _accessory(u, v, image, box, kinds[i, ACCESSORY], gap, colour[LINE], colour[ACCENT], colour[GLASSES], d, a)
        _to_bytes(image, out[i])


def cached() -> bool:
    """Whether numba's cache holds the drawing already, so that its first call loads it
    rather than compiling it (much slower). A hint for messages: numba decides; True when
    its internals do not tell."""
    try:
        return os.path.isfile(paint_layers._cache._cache_file._index_path)
    except AttributeError:
        return True
