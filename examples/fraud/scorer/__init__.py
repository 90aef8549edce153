"""Training and evaluation steps of flow `retrain_fraud` (plain Python, no heavy imports)."""
