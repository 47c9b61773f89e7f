"""Real-time fraud scoring: features from the engine's maintained views, a trained model, and
one decision per transaction (`python -m app.scoring`; `python -m app.scoring train`)."""
