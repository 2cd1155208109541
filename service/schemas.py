"""The request and response bodies of the HTTP API, as pydantic models (they make `/openapi.json`)."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["queued", "running", "done", "cancelled", "failed"]


class SessionCreate(BaseModel):
    """A new session: a server-side shot (`video`) or a number of frames to upload (`frames`)."""

    model_config = ConfigDict(extra="forbid")
    video: Optional[str] = Field(None, description="Video file or frame folder inside a media root "
                                                   "(relative paths are taken relative to the roots).")
    frames: Optional[int] = Field(None, ge=1, description="How many frames will be uploaded with "
                                                          "PUT /v1/sessions/{sid}/frames/{index}.")
    config: dict[str, Any] = Field(default_factory=dict, description="InferenceConfig fields, e.g. "
                                                                     '{"size": 480, "mem_every": 5}.')
    mode: Literal["xmempp", "xmem"] = "xmempp"


class TrackRequest(BaseModel):
    """Track from `start`, `count` frames (default: to the end of the shot) in `direction`."""

    model_config = ConfigDict(extra="forbid")
    start: int = Field(..., ge=0)
    direction: Literal["forward", "backward"] = "forward"
    count: Optional[int] = Field(None, ge=1)


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


class TrackState(BaseModel):
    """A track run's state."""

    id: str
    status: RunStatus
    direction: Literal["forward", "backward"]
    start: int
    count: Optional[int]
    done: int = Field(..., description="frames finished so far")
    total: int = Field(..., description="frames the run steps through")
    error: Optional[str]


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
    uploaded: Optional[int] = Field(..., description="frames uploaded so far (null for a server-side shot)")
    ready: bool = Field(..., description="every frame is there (uploads complete)")
    source: Optional[str] = Field(..., description="the shot's path inside its media root, null for uploads")
    height: Optional[int]
    width: Optional[int]
    mode: Literal["xmempp", "xmem"]
    config: dict[str, Any]
    references: list[int]
    tracks: list[TrackState]


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
    reason: Optional[str] = Field(..., description="why fewer than k frames were suggested")


class Info(BaseModel):
    version: str
    model: str
    device: str
    dims: dict[str, int]
    memory: dict[str, int]
    sessions: int
    queued_tasks: int
    polls: int = Field(..., description="long polls and streams open now")
    limits: dict[str, float]


BINARY = {"schema": {"type": "string", "format": "binary"}}
