"""Training step of flow `retrain_churn` (plain Python, no heavy imports)."""
