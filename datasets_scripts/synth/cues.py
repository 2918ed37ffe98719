"""Where each simulated cue is: per-frame cue masks that the SynthFAS renderers fill while they render.

A renderer given a list (`cue_masks=[]`) appends one dict per frame, cue name -> boolean mask at its output
resolution, True on every pixel whose radiance the cue changes (what the same frame rendered without that cue
would show differently, up to `FLOOR` of the room light). Cues and what their masks hold:

* ``glare``: the specular highlight on a screen's cover glass or on glossy paper;
* ``bezel``: the device bezel and the room around it (everything outside the lit display);
* ``moire``: the lit display, where the sub-pixel grid aliases into moire (and PWM banding and the cover glass's
  room reflection lie);
* ``edges``: the photo border, white margin and the room beyond the sheet;
* ``curl``: where the bend's shading departs from a flat sheet's by more than `CURL_SHADE`;
* ``halftone``: the printed area (halftone dots, ink and paper texture);
* ``eye_holes``: the cut-out eye holes and the shadow their rims cast;
* ``cut_edge``: beyond a mask's oval cut (the wearer's head and the room) and the cut's shadow.

Example:
    >>> import numpy as np
    >>> from datasets_scripts.synth.cues import downsample_mask
    >>> mask = np.zeros((8, 8), bool); mask[0, 0] = True
    >>> downsample_mask(mask, 4).astype(int).tolist()[:2]
    [[1, 1, 0, 0], [1, 1, 0, 0]]
"""

from __future__ import annotations

import cv2
import numpy as np

CUES = ("glare", "bezel", "moire", "edges", "curl", "halftone", "eye_holes", "cut_edge")
FLOOR = 0.01  # a cue's share of the room light below which a pixel counts as unchanged
CURL_SHADE = 0.05  # relative change of the sheet's shading that counts as visible curl


def any_coverage(mask: np.ndarray, size: int) -> np.ndarray:
    """`mask` (square, bool) resampled to `size` x `size`: a pixel is set when any part of it was."""
    return cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0


def grow(mask: np.ndarray, pixels: int = 1) -> np.ndarray:
    """`mask` dilated by `pixels` in every direction."""
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def downsample_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """`mask` at the dataset's `size`: any coverage, grown by one pixel for the camera's blur."""
    return grow(any_coverage(mask, size))


def shadow_reach(opacity_change: np.ndarray, shadow_shift: np.ndarray, blur: float) -> np.ndarray:
    """Where a change of a paper mask's opacity moves its soft shadow (float32, same warp and blur as the shadow)."""
    height, width = opacity_change.shape
    moved = cv2.warpAffine(opacity_change.astype(np.float32), shadow_shift, (width, height))
    return cv2.GaussianBlur(moved, (0, 0), blur)
