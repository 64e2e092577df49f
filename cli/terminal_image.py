"""Images in the terminal: two pixels per character cell with the upper-half block ▀."""

from __future__ import annotations

import numpy as np
from PIL import Image
from rich.text import Text


def half_blocks(image: np.ndarray, width: int = 64) -> Text:
    """`[H, W, 3]` uint8 → Rich Text `width` cells wide (truecolor: top pixel fg, bottom bg)."""
    height = max(2, round(image.shape[0] * width / image.shape[1] / 2) * 2)
    pixels = image
    if image.shape[:2] != (height, width):
        pixels = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
    text = Text(no_wrap=True, overflow="crop")
    for row in range(0, height, 2):
        for top, bottom in zip(pixels[row], pixels[row + 1]):
            text.append("▀", style=f"rgb({top[0]},{top[1]},{top[2]}) on rgb({bottom[0]},{bottom[1]},{bottom[2]})")
        if row + 2 < height:
            text.append("\n")
    return text
