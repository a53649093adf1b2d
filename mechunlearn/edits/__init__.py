"""Edit types, registered by name: ``neuron_ablation``, ``sae_clamp``."""

from mechunlearn.edits.base import EDITS, Edit, edit_from_dict, register_edit
from mechunlearn.edits.neuron_ablation import NeuronAblation
from mechunlearn.edits.sae_clamp import SAEClamp

__all__ = ["EDITS", "Edit", "NeuronAblation", "SAEClamp", "edit_from_dict", "register_edit"]
