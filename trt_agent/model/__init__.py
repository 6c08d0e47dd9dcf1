"""The engine model: everything known about one engine build, assembled from events."""

from trt_agent.model.engine import EngineLayer, EngineModel, Ratio, build_models, fold

__all__ = ["EngineLayer", "EngineModel", "Ratio", "build_models", "fold"]
