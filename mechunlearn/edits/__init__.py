"""Edit types, registered by name: ``neuron_ablation``, ``sae_clamp``, ``guardrail``."""

from mechunlearn.edits.base import EDITS, Edit, edit_from_dict, is_live, register_edit
from mechunlearn.edits.guardrail import Guardrail
from mechunlearn.edits.neuron_ablation import NeuronAblation
from mechunlearn.edits.sae_clamp import SAEClamp

__all__ = ["EDITS", "Edit", "Guardrail", "NeuronAblation", "SAEClamp", "edit_from_dict", "is_live", "register_edit"]
