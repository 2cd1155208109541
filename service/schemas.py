"""The request and response bodies of the HTTP API, as pydantic models (they make `/openapi.json`)."""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from xmempp.refine import RefineSettings

RunStatus = Literal["queued", "running", "done", "cancelled", "failed"]
#: The core's refine defaults (`xmempp.refine.RefineSettings`).
_REFINE = RefineSettings()
#: The refine modes (`xmempp.refine.REFINE_MODES`); the core's `RefineSettings.mode` is one of them, typed str.
RefineMode = Literal["off", "guided", "matting"]


class SessionCreate(BaseModel):
    """A new session: a server-side shot (`video`) or a number of frames to upload (`frames`)."""

    model_config = ConfigDict(extra="forbid")
    video: str | None = Field(
        None,
        description="Video file or frame folder inside a media root (relative paths are taken relative to the roots).",
    )
    frames: int | None = Field(
        None, ge=1, description="How many frames will be uploaded with PUT /v1/sessions/{sid}/frames/{index}."
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description='InferenceConfig fields, e.g. {"size": 480, "mem_every": 5}.'
    )
    mode: Literal["xmempp", "xmem"] = "xmempp"


class MatteFields(BaseModel):
    """A run's soft mattes, and their refinement against the full-resolution frame (the refine stage of
    `xmempp process --refine`, `xmempp.refine.RefineSettings`, with its defaults)."""

    mattes: bool = Field(
        False,
        description="Also keep each object's soft matte per frame, a 16-bit grayscale "
        "PNG: GET /v1/sessions/{sid}/tracks/{rid}/mattes/{frame}/{object_id}.",
    )
    refine: RefineMode = Field(
        cast(RefineMode, _REFINE.mode),
        description='Refine the soft mattes against the frame: "off", "guided" (fast guided filter) or '
        '"matting" (adds a trimap solver on the edge band; slow). Needs "mattes": true; the '
        "masks are then the refined mattes' argmax, as in xmempp process.",
    )
    refine_band: float | None = Field(
        _REFINE.band,
        ge=0,
        le=4096,
        description="How far (frame pixels) the refined edge may reach beyond the "
        "network's uncertain zone; null: 16 at 2K, scaled with the frame "
        "height (only where the matte is soft over a wide area).",
    )
    refine_feather: float | None = Field(
        _REFINE.feather,
        ge=0,
        le=4096,
        description="Width (frame pixels) of the fade into the network's matte "
        "beyond the band; null: 0 (a hard clamp).",
    )
    refine_detail: float = Field(
        _REFINE.eps, gt=0, le=1, description="The guided filter's eps: smaller keeps finer strands (and more noise)."
    )
    refine_temporal: float = Field(
        _REFINE.temporal,
        ge=0,
        lt=1,
        description="Weight of the past frames in an average "
        "of the filter (0 = off; 0.5-0.8 calms "
        "grain flicker on locked-off shots).",
    )

    def refine_settings(self) -> RefineSettings:
        """The core's `RefineSettings` of these fields."""
        return RefineSettings(
            mode=self.refine,
            band=self.refine_band,
            feather=self.refine_feather,
            eps=self.refine_detail,
            temporal=self.refine_temporal,
        )


class TrackRequest(MatteFields):
    """Track from `start`, `count` frames (default: to the end of the shot) in `direction`."""

    model_config = ConfigDict(extra="forbid")
    start: int = Field(..., ge=0)
    direction: Literal["forward", "backward"] = "forward"
    count: int | None = Field(None, ge=1)


class CandidatesRequest(BaseModel):
    """How many frames to suggest, and the weight of the target mask in the comparison."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(5, ge=1, le=1000)
    alpha: float = Field(0.5, ge=0.0, le=1.0)


class ErrorBody(BaseModel):
    """Every error: what was wrong and what to do, in one sentence."""

    detail: str


class Health(BaseModel):
    status: Literal["ok"]


class RLEMask(BaseModel):
    """A run-length encoded index mask: row-major pixels are `counts[0]` of id `values[0]`, then ..."""

    size: list[int] = Field(..., min_length=2, max_length=2, description="[height, width]")
    values: list[int] = Field(..., description="object ids 0..255 (0 = background)")
    counts: list[int] = Field(..., description="run lengths, adding up to height x width")


class TrackState(MatteFields):
    """A track run's state (with the matte settings it was started with)."""

    id: str
    status: RunStatus
    direction: Literal["forward", "backward"]
    start: int
    count: int | None
    done: int = Field(..., description="frames finished so far")
    total: int = Field(..., description="frames the run steps through")
    error: str | None
    queue_position: int | None = Field(
        None,
        description="while the run is queued: 1 + the model tasks (other sessions' track turns, reference "
        "edits, candidate requests) that get the worker before its first frame; null once it runs",
    )
    estimated_start_s: float | None = Field(
        None,
        description="while the run is queued: seconds until its first frame, from the frame times measured "
        "recently on this server (null before it timed one, and once the run started)",
    )


class TrackResult(BaseModel):
    """One result of a run, numbered from 1 in the order made."""

    seq: int
    frame: int
    mask: RLEMask


class TrackPoll(TrackState):
    """A run's state with its results numbered above `after`."""

    results: list[TrackResult]
    next: int = Field(..., description="the last number returned (pass it as `after` next time)")


class Session(BaseModel):
    """One open session."""

    id: str
    frames: int
    uploaded: int | None = Field(..., description="frames uploaded so far (null for a server-side shot)")
    ready: bool = Field(..., description="every frame is there (uploads complete)")
    source: str | None = Field(..., description="the shot's path inside its media root, null for uploads")
    height: int | None
    width: int | None
    mode: Literal["xmempp", "xmem"]
    config: dict[str, Any]
    references: list[int]
    tracks: list[TrackState]
    restored: str | None = Field(
        None,
        description="when a restarted server reloaded the session from its state "
        "folder (UTC); its track results from before are not kept",
    )


class UploadState(BaseModel):
    uploaded: int
    frames: int
    ready: bool


class ReferenceList(BaseModel):
    references: list[int]


class ReferenceSet(BaseModel):
    frame: int
    replaced: bool
    objects: list[int] = Field(..., description="object ids present in the mask")
    references: list[int]


class Reference(BaseModel):
    frame: int
    mask: RLEMask


class Candidate(BaseModel):
    rank: int
    frame: int
    dissimilarity: float


class Candidates(BaseModel):
    candidates: list[Candidate]
    references: list[int]
    invalid: list[int]
    reason: str | None = Field(..., description="why fewer than k frames were suggested")


class Limits(BaseModel):
    """This server's limits (see `xmempp serve --help`)."""

    max_body_bytes: int = Field(..., description="largest request body (413 above)")
    max_frames: int = Field(..., description="most frames a session may have")
    max_frame_pixels: int = Field(..., description="largest uploaded frame, width x height")
    max_sessions: int = Field(..., description="most sessions open at once")
    max_polls_per_client: int = Field(..., description="long polls and streams one client address may hold open")
    session_ttl_s: float = Field(..., description="idle seconds before a session is closed")


class Info(BaseModel):
    version: str
    model: str
    device: str
    dims: dict[str, int]
    memory: dict[str, int]
    sessions: int
    queued_tasks: int
    polls: int = Field(..., description="long polls and streams open now")
    limits: Limits


BINARY = {"schema": {"type": "string", "format": "binary"}}
