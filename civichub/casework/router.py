"""The category router: a message's category from its text, with a confidence. Plain
scikit-learn on plain Python, with no Django: `casework.routing` trains and loads the
deployment's model with it, and the benchmarks use it on their own.

- features: character 1-3-grams of the normalised text (Unicode NFKC, lower case, digit runs
  folded to "0", at most `max_chars` characters), TF-IDF with sublinear term frequency, which
  needs no word segmenter for Chinese; optionally also word 1-2-grams (jieba's segmentation,
  which keeps the words of languages written with spaces as they are);
- classifier: one linear SVM per category on features scaled by their naive-Bayes log-count
  ratio for that category (NBSVM, Wang & Manning 2012), or a plain linear SVM per category;
  either way folded into one weight matrix, so a prediction is a single sparse product;
- selection (`select`): which of `CANDIDATES` a deployment gets is chosen by stratified k-fold
  cross-validation on its own messages. The char baseline (character 1-3-grams within word
  boundaries, LinearSVC) is one of the candidates, so the chosen model never scores below it in
  that cross-validation; no setting is fixed by what suited one language's data. The average of
  the two best candidates' calibrated probabilities is scored on the same folds too (`ENSEMBLE`),
  and chosen when it beats both;
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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 2
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


def near_duplicate_key(text: str) -> str:
    """What two messages that differ only in punctuation, white space, width or case share:
    such messages count as one when training, so that a copy cannot sit on both sides of a
    cross-validation split and flatter the figures."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _lower_cut(text: str, max_chars: int = 1000) -> str:
    """The baseline's preprocessing: lower case, the first `max_chars` characters."""
    return text[:max_chars].lower()


_WORD = re.compile(r"\w", re.UNICODE)


# Segmentations kept while a selection runs (cross-validation segments each message once per
# fold and candidate); None otherwise, so that a process predicting message after message keeps
# none of them.
_kept_segmentations: dict[str, tuple[str, ...]] | None = None


def _segmented(text: str) -> tuple[str, ...]:
    # jieba loads its dictionary (about a second) on first use: only models with word features
    # pay for it.
    import jieba

    kept = _kept_segmentations
    if kept is not None and text in kept:
        return kept[text]
    words = tuple(w for w in jieba.lcut(text, HMM=False) if _WORD.search(w))
    if kept is not None:
        kept[text] = words
    return words


@contextmanager
def _segmentations_kept() -> Iterator[None]:
    global _kept_segmentations
    outer = _kept_segmentations
    _kept_segmentations = {} if outer is None else outer
    try:
        yield
    finally:
        _kept_segmentations = outer


def word_ngrams(text: str) -> list[str]:
    """Words (jieba's segmentation of the normalised text; spaces split other languages) and
    pairs of neighbouring words."""
    words = _segmented(normalise(text))
    return [*words, *(f"{a} {b}" for a, b in pairwise(words))]


@dataclass(frozen=True)
class RouterSettings:
    """One candidate model: its classifier, features and regularisation."""

    name: str
    classifier: str = "nbsvm"  # "nbsvm", "svm" or "ensemble" (of the members a selection gives)
    char_analyzer: str = "char"  # "char" or "char_wb" (n-grams within word boundaries)
    preprocess: str = "normalise"  # "normalise" or "lower" (the baseline's)
    words: bool = False
    c: float = 0.5
    max_n: int = 3  # character n-grams of 1 to max_n characters
    # Each category weighted by the inverse of its share, so that rare categories count as much
    # as common ones (macro-F1 does) rather than being given up for the common ones.
    balanced: bool = False


# The char baseline first: on a tie it wins, being the simpler and faster model.
BASELINE = RouterSettings("char-svm-baseline", "svm", "char_wb", "lower")
CANDIDATES: tuple[RouterSettings, ...] = (
    BASELINE,
    RouterSettings("char-nbsvm"),
    RouterSettings("char-word-svm", "svm", "char_wb", words=True),
    RouterSettings("char-word-nbsvm", words=True),
    RouterSettings("char4-svm-balanced", "svm", max_n=4, balanced=True),
    RouterSettings("char4-nbsvm-balanced", max_n=4, balanced=True),
)
ENSEMBLE = "ensemble"  # the name's prefix: "ensemble(a+b)"
# The model a router gets without a selection (and the one the first releases shipped).
DEFAULT_SETTINGS = CANDIDATES[1]
SELECTION_FOLDS = 3


class _Features:
    """Character n-grams, with word n-grams beside them when asked: fit, then transform."""

    def __init__(
        self, settings: RouterSettings, *, ngram_range: tuple[int, int], min_df: int, max_chars: int
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        preprocessor = _lower_cut if settings.preprocess == "lower" else normalise
        self.char = TfidfVectorizer(
            analyzer=settings.char_analyzer,
            ngram_range=tuple(ngram_range),
            min_df=min_df,
            sublinear_tf=True,
            preprocessor=partial(preprocessor, max_chars=max_chars),
            dtype=np.float32,
        )
        self.word = (
            TfidfVectorizer(
                analyzer=word_ngrams, min_df=min_df, sublinear_tf=True, dtype=np.float32
            )
            if settings.words
            else None
        )
        self.max_chars = max_chars

    def fit_transform(self, texts: Sequence[str]) -> Any:
        from scipy import sparse

        x = self.char.fit_transform(texts)
        if self.word is None:
            return x.tocsr()
        cut = [t[: self.max_chars] for t in texts]
        return sparse.hstack([x, self.word.fit_transform(cut)], format="csr")

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy import sparse

        x = self.char.transform(texts)
        if self.word is None:
            return x
        cut = [t[: self.max_chars] for t in texts]
        return sparse.hstack([x, self.word.transform(cut)], format="csr")


class CategoryRouter:
    """Category from text. `fit(texts, labels)`, then `predict(texts)` gives
    `(label, confidence)` pairs with the confidence in [0, 1]."""

    def __init__(
        self,
        *,
        settings: RouterSettings | None = None,
        ngram_range: tuple[int, int] | None = None,
        min_df: int = 2,
        max_chars: int = 1000,
        nb_alpha: float = 1.0,
        calibrate: bool = True,
        random_state: int = 0,
    ) -> None:
        self.settings = settings or DEFAULT_SETTINGS
        self.ngram_range = ngram_range or (1, self.settings.max_n)
        self.min_df = min_df
        self.max_chars = max_chars
        self.nb_alpha = nb_alpha
        self.calibrate = calibrate
        self.random_state = random_state
        self.labels: list[str] = []
        self.scale = 1.0
        self.vectorizer: _Features | None = None
        self.weights: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self.trained_on = 0

    # Training ------------------------------------------------------------------------------

    def _fit_scores(
        self, texts: Sequence[str], y: np.ndarray, n_labels: int
    ) -> tuple[_Features, np.ndarray, np.ndarray]:
        """Vectoriser, weight matrix (features × labels) and biases for one training set."""
        # scikit-learn and SciPy are heavy (over a second to import): loaded only to train.
        from scipy import sparse
        from sklearn.svm import LinearSVC

        # Both classifiers' SVMs, with the settings' regularisation and category weights.
        new_svm = partial(
            LinearSVC,
            C=self.settings.c,
            class_weight="balanced" if self.settings.balanced else None,
            random_state=self.random_state,
        )
        vectorizer = _Features(
            self.settings,
            ngram_range=self.ngram_range,
            min_df=self.min_df if len(texts) >= 50 * self.min_df else 1,
            max_chars=self.max_chars,
        )
        x = vectorizer.fit_transform(texts)
        if self.settings.classifier == "svm":
            # One-vs-rest linear SVMs on the TF-IDF features, as the baseline trains them.
            present_labels = np.unique(y)
            svm = new_svm()
            weights = np.zeros((x.shape[1], n_labels), dtype=np.float64)
            bias = np.full(n_labels, -1e3)
            if len(present_labels) == 2:
                svm.fit(x, (y == present_labels[1]).astype(np.int8))
                weights[:, present_labels[1]] = svm.coef_.ravel()
                weights[:, present_labels[0]] = -svm.coef_.ravel()
                bias[present_labels[1]] = float(svm.intercept_[0])
                bias[present_labels[0]] = -float(svm.intercept_[0])
            else:
                svm.fit(x, y)
                weights[:, svm.classes_] = svm.coef_.T
                bias[svm.classes_] = svm.intercept_
            return vectorizer, weights.astype(np.float32), bias.astype(np.float32)
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
            svm = new_svm()
            svm.fit(x @ sparse.diags(ratio), mine.astype(np.int8))
            weights[:, label] = ratio * svm.coef_.ravel()
            bias[label] = float(svm.intercept_[0])
        return vectorizer, weights.astype(np.float32), bias.astype(np.float32)

    def out_of_fold_scores(
        self, texts: Sequence[str], y: np.ndarray, n_labels: int, folds: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scores of each text by a model trained without its fold (stratified `folds`-fold),
        and the held-out indices of each fold."""
        from sklearn.model_selection import StratifiedKFold

        scores = np.zeros((len(texts), n_labels), dtype=np.float64)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        array = np.asarray(texts, dtype=object)
        held_out: list[np.ndarray] = []
        for train, held in splitter.split(array, y):
            vectorizer, weights, bias = self._fit_scores(list(array[train]), y[train], n_labels)
            scores[held] = vectorizer.transform(list(array[held])) @ weights + bias
            held_out.append(held)
        return scores, held_out

    @staticmethod
    def scale_for(scores: np.ndarray, y: np.ndarray) -> float:
        """The softmax scale that minimises the log loss of out-of-fold scores."""
        from scipy.optimize import minimize_scalar

        rows = np.arange(len(y))

        def log_loss(log_scale: float) -> float:
            probabilities = _softmax(scores * np.exp(log_scale))
            return float(-np.log(probabilities[rows, y] + 1e-12).mean())

        best = minimize_scalar(log_loss, bounds=(-3.0, 5.0), method="bounded")
        return float(np.exp(best.x))

    def _fit_scale(self, texts: Sequence[str], y: np.ndarray, n_labels: int) -> float:
        folds = min(3, int(np.bincount(y, minlength=n_labels).min()))
        if folds < 2:
            return 1.0
        scores, _held = self.out_of_fold_scores(texts, y, n_labels, folds)
        return self.scale_for(scores, y)

    def label_indices(self, labels: Iterable[str]) -> tuple[list[str], np.ndarray]:
        label_list = [str(label) for label in labels]
        names = sorted(set(label_list))
        index = {label: i for i, label in enumerate(names)}
        return names, np.array([index[label] for label in label_list], dtype=np.int64)

    def fit(
        self, texts: Iterable[str], labels: Iterable[str], *, scale: float | None = None
    ) -> CategoryRouter:
        """Trains on all `texts`. The confidence scale is fitted on out-of-fold scores (three
        more trainings) unless `scale` gives one (from a selection's cross-validation)."""
        texts = [str(t) for t in texts]
        self.labels, y = self.label_indices(labels)
        if len(texts) != len(y):
            raise RouterError("texts and labels differ in length")
        if len(self.labels) < 2:
            raise RouterError("the router needs at least two categories to tell apart")
        if scale is not None:
            self.scale = scale
        else:
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


class EnsembleRouter(CategoryRouter):
    """The average of its members' calibrated probabilities (each member a `CategoryRouter`
    with the scale its out-of-fold scores gave), sharpened or flattened by one more scale
    fitted on the ensemble's own out-of-fold probabilities."""

    def __init__(
        self,
        *,
        settings: RouterSettings,
        members: Sequence[RouterSettings],
        member_scales: Sequence[float],
        random_state: int = 0,
    ) -> None:
        super().__init__(settings=settings, random_state=random_state)
        self.member_settings = tuple(members)
        self.member_scales = tuple(member_scales)
        self.members: list[CategoryRouter] = []

    def fit(
        self, texts: Iterable[str], labels: Iterable[str], *, scale: float | None = None
    ) -> EnsembleRouter:
        texts, labels = [str(t) for t in texts], [str(label) for label in labels]
        self.members = [
            CategoryRouter(settings=member, random_state=self.random_state).fit(
                texts, labels, scale=member_scale
            )
            for member, member_scale in zip(self.member_settings, self.member_scales, strict=True)
        ]
        self.labels = self.members[0].labels
        self.scale = 1.0 if scale is None else scale
        self.trained_on = len(texts)
        return self

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if not self.members:
            raise RouterError("the router is not trained")
        mean = sum(member.probabilities(texts) for member in self.members) / len(self.members)
        return _softmax(np.log(np.asarray(mean) + 1e-12) * self.scale)


# Selection -------------------------------------------------------------------------------------


@dataclass
class Selection:
    """What cross-validation on the deployment's own messages found: each candidate's macro-F1
    on every held-out fold, the chosen candidate, and its confidence scale (fitted on its
    out-of-fold scores)."""

    chosen: RouterSettings
    folds: int
    fold_f1: dict[str, list[float]] = field(default_factory=dict)
    scale: float = 1.0
    out_of_fold: list[str] = field(default_factory=list)  # the chosen one's predictions
    # When an ensemble is chosen: its members and the scale of each.
    members: tuple[RouterSettings, ...] = ()
    member_scales: tuple[float, ...] = ()

    def mean(self, name: str) -> float:
        return float(np.mean(self.fold_f1[name]))

    def spread(self, name: str) -> float:
        return float(np.std(self.fold_f1[name]))


def select(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    candidates: Sequence[RouterSettings] = CANDIDATES,
    folds: int = SELECTION_FOLDS,
    random_state: int = 0,
) -> Selection:
    """Scores every candidate by the same stratified `folds`-fold cross-validation and picks
    the best mean macro-F1 (the earlier candidate on a tie, so the baseline, first, wins
    ties); then the ensemble of the two best, on the same folds, which is chosen only if it
    scores higher still. With fewer than two messages in some category there is nothing to
    cross-validate: the default model is chosen unscored."""
    from sklearn.metrics import f1_score

    texts = [str(t) for t in texts]
    probe = CategoryRouter(random_state=random_state)
    names, y = probe.label_indices(labels)
    folds = min(folds, int(np.bincount(y, minlength=len(names)).min()))
    if folds < 2:
        return Selection(chosen=DEFAULT_SETTINGS, folds=0)
    selection = Selection(chosen=candidates[0], folds=folds)
    scored: list[tuple[float, int, RouterSettings, np.ndarray]] = []
    held_out: list[np.ndarray] = []

    def fold_f1(name: str, scores: np.ndarray) -> float:
        predicted = scores.argmax(axis=1)
        selection.fold_f1[name] = [
            float(f1_score(y[held], predicted[held], average="macro")) for held in held_out
        ]
        return selection.mean(name)

    for order, settings in enumerate(candidates):
        router = CategoryRouter(settings=settings, random_state=random_state)
        scores, held_out = router.out_of_fold_scores(texts, y, len(names), folds)
        scored.append((fold_f1(settings.name, scores), -order, settings, scores))
    # Best first; on a tie the earlier candidate (the baseline, first, wins ties).
    scored.sort(key=lambda entry: entry[:2], reverse=True)
    best_mean, _order, selection.chosen, best_scores = scored[0]
    selection.scale = CategoryRouter.scale_for(best_scores, y)
    if len(scored) > 1:
        second = scored[1]
        scales = (selection.scale, CategoryRouter.scale_for(second[3], y))
        mean = (_softmax(best_scores * scales[0]) + _softmax(second[3] * scales[1])) / 2
        log_mean = np.log(mean + 1e-12)
        name = f"{ENSEMBLE}({selection.chosen.name}+{second[2].name})"
        if fold_f1(name, log_mean) > best_mean:
            selection.members = (selection.chosen, second[2])
            selection.member_scales = scales
            selection.chosen = RouterSettings(name, ENSEMBLE)
            selection.scale = CategoryRouter.scale_for(log_mean, y)
            best_scores = log_mean
    selection.out_of_fold = [names[i] for i in best_scores.argmax(axis=1)]
    return selection


def fit_selected(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    candidates: Sequence[RouterSettings] = CANDIDATES,
    folds: int = SELECTION_FOLDS,
    random_state: int = 0,
) -> tuple[CategoryRouter, Selection]:
    """The candidate that cross-validation chose, trained on every message."""
    selection = select(texts, labels, candidates=candidates, folds=folds, random_state=random_state)
    router: CategoryRouter
    if selection.members:
        router = EnsembleRouter(
            settings=selection.chosen,
            members=selection.members,
            member_scales=selection.member_scales,
            random_state=random_state,
        )
    else:
        router = CategoryRouter(settings=selection.chosen, random_state=random_state)
    scale = selection.scale if selection.folds else None
    return router.fit(texts, labels, scale=scale), selection


# Training --------------------------------------------------------------------------------------


@dataclass
class TrainingReport:
    """What training did: sizes, each candidate's cross-validated macro-F1, the chosen model
    and its out-of-fold per-category report, where the model went."""

    messages: int
    categories: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    near_duplicates: int = 0
    folds: int = 0
    candidates: dict[str, tuple[float, float]] = field(default_factory=dict)  # mean, spread
    chosen: str = ""
    macro_f1: float | None = None
    baseline_macro_f1: float | None = None
    report: str = ""
    path: Path | None = None


def _prepare(
    samples: Iterable[tuple[str, str]], min_per_category: int
) -> tuple[list[str], list[str], dict[str, int], int]:
    """(texts, categories, categories left out with their counts, near-duplicates left out):
    each message once (`near_duplicate_key`), with the category of its first copy."""
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    near_duplicates = 0
    for text, label in samples:
        text, label = (text or "").strip(), (label or "").strip()
        if not (text and label):
            continue
        key = near_duplicate_key(text)
        if key in seen:  # the first one's category stands
            near_duplicates += 1
            continue
        seen.add(key)
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
    return texts, labels, dropped, near_duplicates


def train(
    samples: Iterable[tuple[str, str]],
    *,
    min_per_category: int = DEFAULT_MIN_PER_CATEGORY,
    folds: int = SELECTION_FOLDS,
    path: str | os.PathLike[str],
    random_state: int = 0,
) -> TrainingReport:
    """Trains on (text, category) pairs: every candidate is scored by stratified `folds`-fold
    cross-validation on them, the best (never below the char baseline, one of the candidates)
    is trained on everything and saved to `path`. Near-duplicates are counted once, and
    categories with fewer than `min_per_category` examples are left out."""
    # scikit-learn is heavy (over a second to import): loaded only to train.
    from sklearn.metrics import classification_report

    texts, labels, dropped, near_duplicates = _prepare(samples, max(1, min_per_category))
    report = TrainingReport(
        messages=len(texts),
        categories=sorted(set(labels)),
        dropped=dropped,
        near_duplicates=near_duplicates,
    )
    router, selection = fit_selected(texts, labels, folds=folds, random_state=random_state)
    report.folds = selection.folds
    report.chosen = selection.chosen.name
    if selection.folds:
        report.candidates = {
            name: (selection.mean(name), selection.spread(name)) for name in selection.fold_f1
        }
        report.macro_f1 = selection.mean(selection.chosen.name)
        report.baseline_macro_f1 = selection.mean(BASELINE.name)
        report.report = str(
            classification_report(labels, selection.out_of_fold, digits=3, zero_division=0)
        )
    report.path = router.save(Path(path))
    return report


def describe(report: TrainingReport) -> str:
    """The report as the training command prints it."""
    out = io.StringIO()
    out.write(f"messages: {report.messages}\n")
    if report.near_duplicates:
        out.write(f"left out (near-duplicates of another message): {report.near_duplicates}\n")
    out.write(f"categories: {len(report.categories)}\n")
    for label, n in report.dropped.items():
        out.write(f"left out (too few examples): {label} ({n})\n")
    if report.macro_f1 is not None:
        out.write(f"cross-validation: {report.folds}-fold stratified, macro-F1 mean ± spread\n")
        for name, (mean, spread) in report.candidates.items():
            tag = " (baseline)" if name == BASELINE.name else ""
            out.write(f"candidate {name}{tag}: {mean:.4f} ± {spread:.4f}\n")
        out.write(f"chosen: {report.chosen}\n")
        out.write("out-of-fold predictions of the chosen model:\n")
        out.write(report.report.rstrip() + "\n")
        out.write(f"macro_f1: {report.macro_f1:.4f}\n")
        out.write(f"baseline_macro_f1: {report.baseline_macro_f1:.4f}\n")
    else:
        out.write("cross-validation: skipped (too few messages per category)\n")
        out.write(f"chosen: {report.chosen} (the default)\n")
    out.write(f"saved: {report.path}\n")
    return out.getvalue()
