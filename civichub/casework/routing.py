"""The deployment's message router: the model trained on its own past messages
(`train_from_cases`, or `civichub casework train-router`), kept at
`DATA_DIR/models/router.joblib` and reloaded whenever that file changes. The model itself is
`casework.router`.

`classify(text)` is what routing calls, and the one place that chooses the classifier: the
trained model when there is one, else the keyword rules of `routing_rules`, so that a new
deployment routes by keywords until it has trained a model. `predict_category(text)` is the
trained model alone and returns `(None, 0.0)` without one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings

from civichub.casework import routing_rules
from civichub.casework.router import (
    DEFAULT_MIN_PER_CATEGORY,
    SELECTION_FOLDS,
    CategoryRouter,
    RouterError,
    RouterVersionError,
    TrainingReport,
    describe,
)
from civichub.casework.router import train as train_model
from civichub.casework.selectors import routing_training_examples

__all__ = [
    "DEFAULT_MIN_PER_CATEGORY",
    "MODEL_FILENAME",
    "CategoryRouter",
    "RouterError",
    "RouterVersionError",
    "TrainingReport",
    "classify",
    "deployment_router",
    "describe",
    "model_path",
    "predict_category",
    "train",
    "train_from_cases",
]

MODEL_FILENAME = "router.joblib"


def model_path() -> Path:
    return Path(settings.DATA_DIR) / "models" / MODEL_FILENAME


_cache_lock = threading.Lock()
_cache: dict[str, Any] = {"key": None, "router": None}


def _file_key(path: Path) -> tuple[str, int, int, int] | None:
    """What tells a changed model file: `save` renames a new file over the old one, so its
    inode changes even when the clock's resolution hides the new modification time."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size


def deployment_router() -> CategoryRouter | None:
    """The trained model, loaded once and again whenever its file changes; None without one."""
    path = model_path()
    key = _file_key(path)
    with _cache_lock:
        if key is None:
            _cache.update(key=None, router=None)
            return None
        if _cache["key"] != key:
            _cache.update(key=key, router=CategoryRouter.load(path))
        router: CategoryRouter | None = _cache["router"]
        return router


def predict_category(text: str) -> tuple[str | None, float]:
    """(category key, confidence) from the trained model; `(None, 0.0)` when none is trained."""
    router = deployment_router()
    if router is None:
        return None, 0.0
    label, confidence = router.predict([text])[0]
    return label, round(confidence, 4)


def classify(text: str) -> tuple[str | None, float]:
    """(category key, confidence): the trained model's, or by keywords until one is trained.
    The one place that decides which classifier routing uses."""
    if deployment_router() is None:
        return routing_rules.classify(text)
    return predict_category(text)


def train(
    samples: Iterable[tuple[str, str]],
    *,
    min_per_category: int = DEFAULT_MIN_PER_CATEGORY,
    folds: int = SELECTION_FOLDS,
    path: str | os.PathLike[str] | None = None,
    random_state: int = 0,
) -> TrainingReport:
    """`router.train` (the model chosen by cross-validation on `samples`), saving to the
    deployment's model file unless `path` is given."""
    return train_model(
        samples,
        min_per_category=min_per_category,
        folds=folds,
        path=path if path is not None else model_path(),
        random_state=random_state,
    )


def train_from_cases(
    samples: Iterable[tuple[str, str]] | None = None,
    *,
    min_per_category: int = DEFAULT_MIN_PER_CATEGORY,
    path: str | os.PathLike[str] | None = None,
) -> TrainingReport:
    """Trains the deployment's router on its own past messages: every case whose category a
    person decided or confirmed (chosen by the sender, triaged or transferred by staff, or
    closed without a transfer; see `selectors.routing_training_examples`). `samples` replaces
    the database query with (text, category key) pairs."""
    if samples is None:
        samples = routing_training_examples()
    return train(samples, min_per_category=min_per_category, path=path)
