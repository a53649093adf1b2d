"""``mechunlearn demo``: a Streamlit app showing a base model and its unlearned versions side by side."""
