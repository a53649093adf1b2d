"""What the model knows and what an edit cost: fact scoring and perplexity (:mod:`.scoring`),
the before/after report (:mod:`.report`), the retain budget (:mod:`.budget`), figures (:mod:`.plots`)."""
