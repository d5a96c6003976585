"""course_lib: the tested library behind the monocular depth estimation course.

The lessons import it; so can your own project. One module per concern:
`data` (synthetic rooms, depth packs, datasets, transforms), `models`, `losses`, `metrics`,
`train`, `evaluate`, `viz`, `widgets`, `geometry`, `export`, and the command line (`python -m course_lib`).
"""
from .environment import describe_environment, is_quick_mode, pick_device, seed_everything
from .errors import CheckpointError, CourseError, DataFormatError, PretrainedWeightsUnavailable
from .results import record

__version__ = "0.1.0"

__all__ = [
    "describe_environment", "is_quick_mode", "pick_device", "seed_everything", "record",
    "CourseError", "DataFormatError", "CheckpointError", "PretrainedWeightsUnavailable",
]
