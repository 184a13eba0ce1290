"""The SimPy model of the same protocol: ``run_sim``, ``Network``, ``calibrate``."""

from .model import run_sim
from .network import Network

__all__ = ["Network", "run_sim"]
