"""The dashboard's favicon, drawn here so that the browser loads it from the dashboard itself.

An emoji or `:material/...:` page icon makes the browser fetch the image from a public CDN on
every page load, and the console is meant to run on a machine that talks to no other host.
"""

import numpy as np
from PIL import Image

_SIZE = 32
_BLUE = (25, 118, 210)
_WHITE = (255, 255, 255)


def page_icon() -> Image.Image:
    """Return a 32x32 RGB image: a blue square with three white dots, like a message being typed.

    It is a PIL image because Streamlit's set_page_config compares page_icon with a string, and
    that comparison raises ValueError for a numpy array.
    """
    icon = np.empty((_SIZE, _SIZE, 3), dtype=np.uint8)
    icon[:] = _BLUE

    rows, columns = np.mgrid[0:_SIZE, 0:_SIZE]
    for centre in (9, 16, 23):
        icon[(columns - centre) ** 2 + (rows - 16) ** 2 <= 9] = _WHITE
    return Image.fromarray(icon)
