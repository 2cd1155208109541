"""Decontaminated foreground files: a sink (`xmempp.io.sinks`) that writes, per object and frame,

    OUT/foreground/<id>/<stem>.png   un-premultiplied foreground colour, 16-bit RGB, as displayed
    OUT/rgba/<id>/<stem>.exr         RGBA half float, premultiplied (or straight) colour and alpha

from the frame and the object's output matte (`xmempp.refine.foreground`), each file atomic and recorded
in the folder's manifest like every other result. `xmempp process` and `xmempp refine` both write them
through the `ResultWriter` (`WriterOptions.foreground`).

The colour is estimated where it is composited: on a linear plate (EXR, HDR) from the plate's own
scene-linear pixels, so the RGBA EXR is in the plate's colour space, unclipped, as a compositor's read
of the plate is (the PNG is its display conversion); on other frames from the frame as displayed. The
EXR names its colour space in the `oiio:ColorSpace` header attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from xmempp.errors import OutputError
from xmempp.io.colour import SRGB
from xmempp.io.matte_files import write_exr_channels
from xmempp.io.sinks import FrameOutput, OutputTarget
from xmempp.refine.foreground import estimate_foreground
from xmempp.refine.refiner import plate_tensor

__all__ = ["DISPLAY_SPACE", "ForegroundSink"]

#: The colour space of the foreground of a display-referred frame (the frame's own encoding).
DISPLAY_SPACE = SRGB


@dataclass
class ForegroundSink:
    """`foreground/<id>/<stem>.png` and `rgba/<id>/<stem>.exr` of every object (needs the frame).

    Attributes:
        premultiplied: store colour x alpha in the EXR (else straight colour).
        compression: EXR compression name (None = zip).
    """

    premultiplied: bool = True
    compression: str | None = None

    def write(self, frame: FrameOutput, target: OutputTarget) -> None:
        if frame.frame_rgb is None:
            raise OutputError(f"the foreground colour of frame {frame.stem} needs the frame itself")
        linear = frame.linear() if frame.linear is not None else None
        if linear is not None and tuple(linear.pixels.shape[:2]) != tuple(frame.probs.shape[1:]):
            raise OutputError(
                f"the linear plate of frame {frame.stem} is {linear.pixels.shape[:2]} but its mattes are "
                f"{frame.probs.shape[1:]}"
            )
        plate = (
            torch.from_numpy(linear.pixels).permute(2, 0, 1).contiguous()
            if linear is not None
            else plate_tensor(frame.frame_rgb)
        )
        space = linear.space if linear is not None else DISPLAY_SPACE
        for k, oid in enumerate(frame.object_ids, start=1):
            if target.aborted.is_set():
                return
            alpha = np.ascontiguousarray(frame.probs[k], dtype=np.float32)
            colour = estimate_foreground(plate, torch.from_numpy(alpha)).permute(1, 2, 0).numpy()
            if linear is None:  # displayed colour: the EXR holds what the PNG shows
                colour = shown = np.clip(colour, 0, 1)
            else:
                shown = linear.to_display(colour)
            self._write_object(target, oid, frame, colour, shown, alpha, space)

    def _write_object(
        self,
        target: OutputTarget,
        oid: int,
        frame: FrameOutput,
        colour: np.ndarray,
        shown: np.ndarray,
        alpha: np.ndarray,
        space: str,
    ) -> None:
        png = target.folder / "foreground" / str(oid) / f"{frame.stem}.png"
        values = np.rint(shown * 65535).astype(np.uint16)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(values, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise OutputError(f"cannot encode the foreground PNG {png}")
        target.write(png, buf.tobytes())
        exr = target.claim(target.folder / "rgba" / str(oid) / f"{frame.stem}.exr")
        rgb = colour * alpha[..., None] if self.premultiplied else colour
        data, display = frame.windows
        write_exr_channels(
            exr,
            [rgb[..., 0], rgb[..., 1], rgb[..., 2], alpha],
            ["R", "G", "B", "A"],
            data,
            display,
            self.compression,
            target.fsync,
            attributes={"oiio:ColorSpace": space},
        )
