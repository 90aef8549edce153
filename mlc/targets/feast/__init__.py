"""The Feast backend: a feature repository per env (entities, sources, feature views,
on-demand views, feature services, feature_store.yaml) and the runtime of training sets
and materialisation. See docs/targets/feast.md."""

from mlc.targets import Backend
from mlc.targets.feast.target import lower, validate

TARGET = Backend("feast", validate, lower)
