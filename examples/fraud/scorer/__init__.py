"""Training and evaluation steps of flow `retrain_fraud`. Nothing heavy at module top:
scikit-learn and BentoML are imported when a step runs (the serving environment has both)."""
