"""The status vocabulary of a device's run, in one place; reports and exit codes derive from it."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """A device's verdict. The value is the word shown in every output."""

    PASS = "PASS"
    FAIL = "FAIL"
    CRASHED = "CRASHED"
    HUNG = "HUNG"
    UNAVAILABLE = "UNAVAILABLE"
    BUSY = "BUSY"
    HOST_ERROR = "HOST_ERROR"
    ABORTED = "ABORTED"
    SKIPPED = "SKIPPED"
    INCOMPLETE = "INCOMPLETE"
    RUNNING = "RUNNING"

    @property
    def meaning(self) -> str:
        """One line saying what the status means."""
        return MEANINGS[self]


MEANINGS = {
    Status.PASS: "every copy verified, no fault recorded, thresholds met",
    Status.FAIL: "a fault was recorded: data mismatch, API error, leak, or a threshold not met",
    Status.CRASHED: "the worker process died",
    Status.HUNG: "no progress within the timeout; the worker was killed",
    Status.UNAVAILABLE: "the device could not be opened, or an expected device is not visible",
    Status.BUSY: "another process holds the device (two tests on one NPU skew and fail each other): not tested",
    Status.HOST_ERROR: "the host could not run the test (memory, descriptors, disk): the device was not judged",
    Status.ABORTED: "the run was interrupted before the device finished",
    Status.SKIPPED: "the device was never started (the run ended before its turn)",
    Status.INCOMPLETE: "the journal ends before the device finished (the controller died after starting it)",
    Status.RUNNING: "still running (only in the live status file of a run in progress)",
}


class RunState(str, enum.Enum):
    """Where a whole run stands; ``summary.json``'s ``state`` and every output's run line."""

    RUNNING = "running"
    FINISHED = "finished"
    INCOMPLETE = "incomplete"

    @property
    def meaning(self) -> str:
        return RUN_MEANINGS[self]


RUN_MEANINGS = {
    RunState.RUNNING: "in progress: its controller is still writing the journal",
    RunState.FINISHED: "finished: the controller wrote the run's end",
    RunState.INCOMPLETE: (
        "incomplete: the journal ends without the run's end and nobody writes it any more "
        "(the controller was killed, or its machine went down); these results are final"
    ),
}
