"""The category router: a message's category from its text, with a confidence. Plain
scikit-learn on plain Python, with no Django: `casework.routing` trains and loads the
deployment's model with it, and the benchmarks use it on their own.

- features: character 1-3-grams of the normalised text (Unicode NFKC, lower case, digit runs
  folded to "0", at most `max_chars` characters), TF-IDF with sublinear term frequency. Chinese
  needs no word segmenter this way, and other languages work as well;
- classifier: one linear SVM per category on features scaled by their naive-Bayes log-count
  ratio for that category (NBSVM, Wang & Manning 2012), folded into one weight matrix, so a
  prediction is a single sparse product;
- confidence: a softmax over the SVM scores with one scale fitted on out-of-fold scores
  (temperature scaling), so that a confidence of 0.8 is right about four times in five and the
  triage threshold means what it says.

scikit-learn, SciPy and joblib take over a second to import, so they are imported inside the
functions that train, save or load a model: a process that never routes by a trained model
(every web process of a deployment that has not trained one) does not pay for them.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

FORMAT_VERSION = 1
DEFAULT_MIN_PER_CATEGORY = 10
# Fewer labelled messages than this in all, and training is refused.
MIN_TRAINING_MESSAGES = 20

_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


class RouterError(Exception):
    """Training or loading the router failed; the message says why."""


class RouterVersionError(RouterError):
    """The saved model was written by another format or scikit-learn version."""


def normalise(text: str, max_chars: int = 1000) -> str:
    """The text the features are taken from: NFKC (full-width letters and digits become
    ASCII), lower case, every run of digits one "0", white space collapsed, cut at
    `max_chars`."""
    text = unicodedata.normalize("NFKC", text[: max_chars * 2]).lower()
    text = _SPACES.sub(" ", _DIGITS.sub("0", text)).strip()
    return text[:max_chars]


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


class CategoryRouter:
    """Category from text. `fit(texts, labels)`, then `predict(texts)` gives
    `(label, confidence)` pairs with the confidence in [0, 1]."""

    def __init__(
        self,
        *,
        c: float = 0.5,
        ngram_range: tuple[int, int] = (1, 3),
        min_df: int = 2,
        max_chars: int = 1000,
        nb_alpha: float = 1.0,
        calibrate: bool = True,
        random_state: int = 0,
    ) -> None:
        self.c = c
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_chars = max_chars
        self.nb_alpha = nb_alpha
        self.calibrate = calibrate
        self.random_state = random_state
        self.labels: list[str] = []
        self.scale = 1.0
        self.vectorizer: TfidfVectorizer | None = None
        self.weights: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self.trained_on = 0

    # Training ------------------------------------------------------------------------------

    def _fit_scores(
        self, texts: Sequence[str], y: np.ndarray, n_labels: int
    ) -> tuple[TfidfVectorizer, np.ndarray, np.ndarray]:
        """Vectoriser, weight matrix (features × labels) and biases for one training set."""
        # scikit-learn and SciPy are heavy (over a second to import): loaded only to train.
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        vectorizer = TfidfVectorizer(
            analyzer="char",
            ngram_range=tuple(self.ngram_range),
            min_df=self.min_df if len(texts) >= 50 * self.min_df else 1,
            sublinear_tf=True,
            preprocessor=partial(normalise, max_chars=self.max_chars),
            dtype=np.float32,
        )
        x = vectorizer.fit_transform(texts).tocsr()
        present = (x > 0).astype(np.float64)
        total = np.asarray(present.sum(axis=0)).ravel()
        weights = np.zeros((x.shape[1], n_labels), dtype=np.float64)
        bias = np.full(n_labels, -1e3)
        for label in range(n_labels):
            mine = y == label
            if not mine.any():
                continue  # absent from this training fold: never predicted
            p = self.nb_alpha + np.asarray(present[mine].sum(axis=0)).ravel()
            q = total + 2 * self.nb_alpha - p  # alpha + the count in the other categories
            ratio = np.log((p / p.sum()) / (q / q.sum()))
            svm = LinearSVC(C=self.c, random_state=self.random_state)
            svm.fit(x @ sparse.diags(ratio), mine.astype(np.int8))
            weights[:, label] = ratio * svm.coef_.ravel()
            bias[label] = float(svm.intercept_[0])
        return vectorizer, weights.astype(np.float32), bias.astype(np.float32)

    def _fit_scale(self, texts: Sequence[str], y: np.ndarray, n_labels: int) -> float:
        """The softmax scale that minimises the log loss of out-of-fold scores."""
        # scikit-learn and SciPy are heavy (over a second to import): loaded only to train.
        from scipy.optimize import minimize_scalar
        from sklearn.model_selection import StratifiedKFold

        folds = min(3, int(np.bincount(y, minlength=n_labels).min()))
        if folds < 2:
            return 1.0
        scores = np.zeros((len(texts), n_labels), dtype=np.float64)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        array = np.asarray(texts, dtype=object)
        for train, held in splitter.split(array, y):
            vectorizer, weights, bias = self._fit_scores(list(array[train]), y[train], n_labels)
            scores[held] = vectorizer.transform(list(array[held])) @ weights + bias
        rows = np.arange(len(y))

        def log_loss(log_scale: float) -> float:
            probabilities = _softmax(scores * np.exp(log_scale))
            return float(-np.log(probabilities[rows, y] + 1e-12).mean())

        best = minimize_scalar(log_loss, bounds=(-3.0, 5.0), method="bounded")
        return float(np.exp(best.x))

    def fit(self, texts: Iterable[str], labels: Iterable[str]) -> CategoryRouter:
        texts = [str(t) for t in texts]
        label_list = [str(label) for label in labels]
        if len(texts) != len(label_list):
            raise RouterError("texts and labels differ in length")
        self.labels = sorted(set(label_list))
        if len(self.labels) < 2:
            raise RouterError("the router needs at least two categories to tell apart")
        index = {label: i for i, label in enumerate(self.labels)}
        y = np.array([index[label] for label in label_list], dtype=np.int64)
        self.scale = self._fit_scale(texts, y, len(self.labels)) if self.calibrate else 1.0
        self.vectorizer, self.weights, self.bias = self._fit_scores(texts, y, len(self.labels))
        self.trained_on = len(texts)
        return self

    # Prediction ----------------------------------------------------------------------------

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, one column per label (`self.labels`), each row summing to 1."""
        if self.vectorizer is None or self.weights is None or self.bias is None:
            raise RouterError("the router is not trained")
        scores = self.vectorizer.transform(texts) @ self.weights + self.bias
        return _softmax(np.asarray(scores, dtype=np.float64) * self.scale)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        texts = list(texts)
        if not texts:
            return []
        probabilities = self.probabilities(texts)
        best = probabilities.argmax(axis=1)
        return [
            (self.labels[i], float(probabilities[row, i])) for row, i in enumerate(best.tolist())
        ]

    # Persistence ---------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the model atomically (a temporary file renamed over the old one)."""
        # Heavy (scikit-learn takes over a second to import): loaded only with a model.
        import joblib
        import sklearn

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "format_version": FORMAT_VERSION,
            "sklearn_version": sklearn.__version__,
            "labels": list(self.labels),
            "trained_on": self.trained_on,
            # Pickled apart so that the header can be checked before any of it is unpickled.
            "model": pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL),
        }
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        joblib.dump(document, temporary, compress=3)
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CategoryRouter:
        """Reads a model written by `save`. Refuses one written by another format version or
        another scikit-learn version: retrain it with `civichub casework train-router`."""
        # Heavy (scikit-learn takes over a second to import): loaded only with a model.
        import joblib
        import sklearn

        document = joblib.load(Path(path))
        if not isinstance(document, dict) or "format_version" not in document:
            raise RouterVersionError(f"{path} is not a civichub router model")
        if document["format_version"] != FORMAT_VERSION:
            raise RouterVersionError(
                f"{path} has router format {document['format_version']}, this civichub reads "
                f"format {FORMAT_VERSION}; retrain it with `civichub casework train-router`"
            )
        if document.get("sklearn_version") != sklearn.__version__:
            raise RouterVersionError(
                f"{path} was trained with scikit-learn {document.get('sklearn_version')}, this "
                f"installation has {sklearn.__version__}; retrain it with "
                "`civichub casework train-router`"
            )
        model = pickle.loads(document["model"])  # noqa: S301 - the deployment's own file  # nosec B301
        if not isinstance(model, cls):
            raise RouterVersionError(f"{path} does not hold a {cls.__name__}")
        return model


# Training --------------------------------------------------------------------------------------


@dataclass
class TrainingReport:
    """What training did: sizes, the held-out evaluation, where the model went."""

    messages: int
    categories: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    held_out: int = 0
    macro_f1: float | None = None
    report: str = ""
    path: Path | None = None


def _prepare(
    samples: Iterable[tuple[str, str]], min_per_category: int
) -> tuple[list[str], list[str], dict[str, int]]:
    texts: list[str] = []
    labels: list[str] = []
    for text, label in samples:
        text, label = (text or "").strip(), (label or "").strip()
        if text and label:
            texts.append(text)
            labels.append(label)
    counts = Counter(labels)
    dropped = {label: n for label, n in sorted(counts.items()) if n < min_per_category}
    if dropped:
        keep = [i for i, label in enumerate(labels) if label not in dropped]
        texts = [texts[i] for i in keep]
        labels = [labels[i] for i in keep]
    kept = sorted(set(labels))
    if len(kept) < 2 or len(texts) < MIN_TRAINING_MESSAGES:
        raise RouterError(
            f"too little labelled data to train the router: {len(texts)} messages in "
            f"{len(kept)} categories with at least {min_per_category} messages each (needs at "
            f"least {MIN_TRAINING_MESSAGES} messages in at least 2 such categories)"
            + (
                "; categories left out for having too few: "
                + ", ".join(f"{label} ({n})" for label, n in dropped.items())
                if dropped
                else ""
            )
        )
    return texts, labels, dropped


def train(
    samples: Iterable[tuple[str, str]],
    *,
    min_per_category: int = DEFAULT_MIN_PER_CATEGORY,
    held_out_share: float = 0.2,
    path: str | os.PathLike[str],
    random_state: int = 0,
) -> TrainingReport:
    """Trains on (text, category) pairs: scores a model trained on 80 % against the other 20 %
    (stratified), then trains on everything and saves it to `path`. Categories with fewer than
    `min_per_category` examples are left out."""
    # scikit-learn is heavy (over a second to import): loaded only to train.
    from sklearn.metrics import classification_report, f1_score
    from sklearn.model_selection import train_test_split

    texts, labels, dropped = _prepare(samples, max(1, min_per_category))
    report = TrainingReport(messages=len(texts), categories=sorted(set(labels)), dropped=dropped)
    counts = Counter(labels)
    n_held = int(round(len(texts) * held_out_share))
    if min(counts.values()) >= 2 and n_held >= len(counts):
        train_x, test_x, train_y, test_y = train_test_split(
            texts, labels, test_size=n_held, stratify=labels, random_state=random_state
        )
        trial = CategoryRouter(random_state=random_state).fit(train_x, train_y)
        predicted = [label for label, _ in trial.predict(test_x)]
        report.held_out = len(test_x)
        report.macro_f1 = float(f1_score(test_y, predicted, average="macro"))
        report.report = str(classification_report(test_y, predicted, digits=3, zero_division=0))
    router = CategoryRouter(random_state=random_state).fit(texts, labels)
    report.path = router.save(Path(path))
    return report


def describe(report: TrainingReport) -> str:
    """The report as the training command prints it."""
    out = io.StringIO()
    out.write(f"messages: {report.messages}\n")
    out.write(f"categories: {len(report.categories)}\n")
    for label, n in report.dropped.items():
        out.write(f"left out (too few examples): {label} ({n})\n")
    if report.macro_f1 is not None:
        out.write(f"held-out messages: {report.held_out}\n")
        out.write(report.report.rstrip() + "\n")
        out.write(f"macro_f1: {report.macro_f1:.4f}\n")
    else:
        out.write("held-out evaluation: skipped (too few messages per category)\n")
    out.write(f"saved: {report.path}\n")
    return out.getvalue()
