"""The BentoML backend: a service per served model (docs/targets/bentoml.md)."""

from mlc.targets import Backend
from mlc.targets.bentoml.target import lower, validate

TARGET = Backend("bentoml", validate, lower)
