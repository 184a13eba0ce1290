"""The SimPy model of the same protocol: ``run_sim``, ``Network``, ``calibrate``."""

from .calibrate import Calibration, calibrate, measure
from .model import run_sim
from .network import Network

__all__ = ["Calibration", "Network", "calibrate", "measure", "run_sim"]
