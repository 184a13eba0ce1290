"""The SimPy model: the protocol core run with modelled delays. No Redis here."""

from .model import Model
from .network import Network

__all__ = ["Model", "Network"]
