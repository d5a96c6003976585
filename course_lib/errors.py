"""Errors the course raises on purpose: each message says what was expected, what was found, what to do.

The command line catches `CourseError` and prints its message as one line with a non-zero exit;
anything else is a bug and keeps its traceback.
"""


class CourseError(Exception):
    """Base class of every error whose message is meant for the learner, not a traceback."""


class DataFormatError(CourseError, ValueError):
    """An input file (pack, image, depth map, archive) is missing, truncated or not what it claims."""


class CheckpointError(CourseError, ValueError):
    """A checkpoint cannot be used: wrong architecture, wrong format, or corrupt."""


class PretrainedWeightsUnavailable(CourseError, RuntimeError):
    """Pretrained weights were asked for but cannot be loaded (no cache, no path, no network)."""
