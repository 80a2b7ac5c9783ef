"""SpaceR workbench core: video frames, prompts, cognitive maps, rewards, sim data, training,
inference and evaluation for video spatial reasoning with Qwen2/2.5-VL models."""

__version__ = "0.1.0"
