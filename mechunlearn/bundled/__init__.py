"""The bundled model: a small GPT-2 trained by this project on a corpus it writes itself.

``python -m mechunlearn.bundled.train`` rebuilds it (seeded; about ten minutes on 2 CPU cores).
"""
