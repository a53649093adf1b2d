"""Edit types, registered by name: ``neuron_ablation``."""

from mechunlearn.edits.base import EDITS, Edit, edit_from_dict, register_edit
from mechunlearn.edits.neuron_ablation import NeuronAblation

__all__ = ["EDITS", "Edit", "NeuronAblation", "edit_from_dict", "register_edit"]
