"""Gradient training of the hooked model: the accelerate loop (:mod:`.loop`) and what a method
sees in it (:mod:`.context`), its data (:mod:`.data`), LoRA adapters (:mod:`.lora`), localization
to ranked neurons or SAE features (:mod:`.localize`), distillation (:mod:`.distill`), retraining
after an edit (:mod:`.retrain`). The objectives themselves are :mod:`mechunlearn.unlearning`'s methods."""
