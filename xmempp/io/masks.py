"""Annotation masks (roto): read every form artists hand over as object ids, pair them with frames.

A mask becomes a `LabeledMask`: an HxW uint8 array of object ids (0 = background), the palette to
restore on output, and for soft roto each object's coverage (the artist's edge, kept for the
outputs at keyframes). Accepted forms (see docs/plates.md, "Roto: every accepted form"):

* palette ("P") PNG: the pixel indices are the ids, the file's palette is kept;
* grayscale ("L", 16-bit, 1-bit) PNG or TIFF: the values are the ids (16-bit files holding 8-bit
  values scaled by 257 are scaled back); no palette (outputs are grayscale too). A single white
  matte is therefore object 255;
* RGB/RGBA PNG: every exact colour is one id: black (and transparent pixels) is 0, a DAVIS palette
  colour is its palette index, any other colour the next id after the highest one in use, in order
  of first appearance (row-major; files in frame order). The palette restores the exact colours;
* soft mattes (8/16-bit, float TIFF, the alpha of RGBA / gray+alpha, anti-aliased or feathered
  colours or grey levels): objects are the matte's plateaus and every edge pixel goes to the
  objects whose edge it is (`xmempp.io.soft_keyframes`), binarised at `threshold`;
* EXR (one channel: the only one, A / mask, or the one asked for, e.g. `chair.mask`): a 0..1 matte
  read as a 16-bit soft matte on the file's display window;
* one folder per object of soft mattes (`xmempp.io.mask_folders`).

Roto at the plate's display window (overscan or cropped EXR plates) or at another resolution of the
same aspect ratio is brought onto the frame (`xmempp.io.mask_fit`).
"""

from xmempp.io.mask_folders import read_mask_folder
from xmempp.io.mask_labels import (
    LabeledMask,
    check_threshold,
    finish_mask,
    mask_frame_index,
    object_names,
    output_palette,
    read_mask,
)
from xmempp.io.mask_palette import MAX_OBJECTS, ColorTable, davis_palette, present_ids

__all__ = [
    "MAX_OBJECTS",
    "ColorTable",
    "LabeledMask",
    "check_threshold",
    "davis_palette",
    "finish_mask",
    "mask_frame_index",
    "object_names",
    "output_palette",
    "present_ids",
    "read_mask",
    "read_mask_folder",
]
