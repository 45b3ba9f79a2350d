"""Audio fitting: time coordinates -> waveform amplitude."""
from utils.tasks.audio.task import AudioTask, time_grid

__all__ = ["AudioTask", "time_grid"]
