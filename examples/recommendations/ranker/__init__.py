"""The ranker's training and evaluation steps (flow `train_ranker`).

Plain Python on purpose: the steps import nothing heavy at module top, so
the orchestrator can load them cheaply. A real project would train a
scikit-learn model here; this one fits a small logistic regression by hand
so that the example runs anywhere.
"""
