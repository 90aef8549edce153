"""The ranker's training and evaluation steps (flow `train_ranker`).

The steps import nothing heavy at module top, so the orchestrator loads them cheaply;
scikit-learn and BentoML are imported when a step runs (the serving environment has both).
"""
