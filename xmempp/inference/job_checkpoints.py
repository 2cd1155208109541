"""The checkpoint life cycle of a run: restore, save at the start, when due and when stopped, and
the small "completed" record at the end (see `xmempp.inference.checkpoint` for the file)."""

from __future__ import annotations

from xmempp.errors import ConfigError, InputError, OutputError
from xmempp.inference.checkpoint import (
    START_AGAIN,
    Checkpoint,
    Checkpointer,
    CheckpointPolicy,
    checkpoint_path,
    fingerprint_changes,
    job_fingerprint,
    load_checkpoint,
)
from xmempp.inference.guards import written_range
from xmempp.inference.job_spec import JobRun, open_session
from xmempp.inference.session import InferenceSession
from xmempp.io.writers import ResultWriter
from xmempp.model.network import XMemNetwork

__all__ = ["RunCheckpoints"]


class RunCheckpoints:
    """Checkpoints of one run of a job (see `run_job`'s `checkpoint` and `resume`)."""

    def __init__(self, checkpointer: Checkpointer, restored: Checkpoint | None) -> None:
        """Arguments: checkpointer: saves this run's checkpoints; restored: the checkpoint resumed from."""
        self.checkpointer = checkpointer
        self.restored = restored

    @classmethod
    def open(
        cls, model: XMemNetwork, run: JobRun, policy: CheckpointPolicy | None, resume: bool
    ) -> RunCheckpoints | None:
        """The checkpoints of a run, or None without checkpoints.

        Arguments:
            model: the network (its weights are part of the fingerprint).
            run: the prepared job; it must have outputs.
            policy: when to save (default `CheckpointPolicy()` when resuming).
            resume: continue from the checkpoint in the output folder when there is one.
        Returns:
            The `RunCheckpoints`. Raises `InputError` naming what changed when resuming a job
            whose inputs or settings differ (unless overwriting, which starts again).
        """
        if policy is None and not resume:
            return None
        job = run.job
        if job.outputs is None:
            raise ConfigError("checkpoints and resuming need an output folder (the checkpoint is kept there)")
        path = checkpoint_path(job.outputs.folder, written_range(job))
        fingerprint = job_fingerprint(model, run)
        checkpointer = Checkpointer(path, policy or CheckpointPolicy(), fingerprint)
        restored = load_checkpoint(path) if resume else None
        if restored is not None:
            changes = fingerprint_changes(restored.fingerprint, fingerprint)
            if changes and job.outputs.overwrite:
                return cls(checkpointer, None)  # start again
            if changes:
                raise InputError(
                    f"cannot resume the run in {job.outputs.folder}: since its checkpoint was saved, "
                    f"{'; '.join(changes)} changed; resume with the same inputs and settings",
                    remedy=START_AGAIN,
                )
            if not restored.completed and restored.session is None:
                raise OutputError(f"checkpoint {path} holds no state", remedy=START_AGAIN)
        return cls(checkpointer, restored)

    @property
    def finished(self) -> bool:
        """The checkpoint says the job ran to its end already."""
        return self.restored is not None and self.restored.completed

    @property
    def start(self) -> int:
        """Frames of the plan done before this run."""
        return 0 if self.restored is None else self.restored.done

    def session(self, model: XMemNetwork, run: JobRun, given: InferenceSession | None) -> InferenceSession:
        """The session to step: `given` or a new one, holding the restored state when resuming."""
        job = run.job
        if given is None:
            given = InferenceSession(model, job.config, job.mode) if self.restored else open_session(model, run)
        if self.restored is not None and self.restored.session is not None:
            given.load_state_dict(self.restored.session)
        return given

    def begin(self, session: InferenceSession) -> None:
        """Save the first checkpoint of a fresh run and start counting memory changes."""
        if self.restored is None:
            self.checkpointer.save(0, session.state_dict())
        self.checkpointer.observe(session.memory.version)

    def after_frame(self, writer: ResultWriter | None, session: InferenceSession, done: int, total: int) -> None:
        """Save when the policy says so (never after the last frame: the run is about to finish)."""
        self.checkpointer.observe(session.memory.version)
        if self.checkpointer.due() and done < total:
            self.save(writer, session, done)

    def save(self, writer: ResultWriter | None, session: InferenceSession, done: int) -> None:
        """Flush the writer (so the checkpoint never counts a file not yet on disk), then save."""
        if writer is not None:
            writer.flush()
        self.checkpointer.save(done, session.state_dict())

    def complete(self, total: int) -> None:
        """Replace the checkpoint with the small "completed" record."""
        self.checkpointer.save(total, None, completed=True)
