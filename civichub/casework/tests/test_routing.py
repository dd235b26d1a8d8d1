"""The message router on synthetic messages: training, confidences, the saved model and its
version check, `classify` with and without a trained model, and `casework train-router`."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pytest
import sklearn
from django.core.management import CommandError, call_command

from civichub.casework import router, routing
from civichub.casework.models import Case, CaseStatus, CategorySource
from civichub.casework.router import CategoryRouter, RouterError, RouterVersionError

TOPICS: dict[str, list[str]] = {
    "roads": ["路面坑洼", "井盖缺失", "路灯不亮", "红绿灯坏了", "公交站台", "人行道破损"],
    "health": ["医院挂号", "医生态度", "药费太贵", "疫苗接种", "门诊排队", "医保报销"],
    "schools": ["学校收费", "老师补课", "幼儿园入学", "校车安全", "学生作业", "招生政策"],
}
FILLERS = ["请尽快处理", "附近居民反映", "希望有关部门重视", "已经很久了", "我们小区", "市民来信"]


def message(topic: str, rng: random.Random, keywords: int = 2) -> str:
    words = rng.sample(TOPICS[topic], keywords) + rng.sample(FILLERS, 2)
    rng.shuffle(words)
    return "，".join(words) + "。"


def corpus(per_topic: int, seed: int = 1) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[str] = []
    for _ in range(per_topic):
        for topic in TOPICS:
            texts.append(message(topic, rng))
            labels.append(topic)
    return texts, labels


@pytest.fixture(scope="module")
def trained() -> CategoryRouter:
    texts, labels = corpus(40)
    return CategoryRouter().fit(texts, labels)


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


# The model ----------------------------------------------------------------------------------


def test_router_learns_the_categories_of_unseen_messages(trained: CategoryRouter) -> None:
    texts, labels = corpus(10, seed=99)
    predicted = trained.predict(texts)

    assert trained.labels == sorted(TOPICS)
    assert len(predicted) == len(texts)
    assert all(0.0 <= confidence <= 1.0 for _, confidence in predicted)
    correct = sum(label == truth for (label, _), truth in zip(predicted, labels, strict=True))
    assert correct / len(texts) >= 0.9
    assert trained.predict([]) == []


def test_probabilities_are_a_distribution_over_the_categories(trained: CategoryRouter) -> None:
    probabilities = trained.probabilities(["路灯不亮，井盖缺失", "学校收费太高"])
    assert probabilities.shape == (2, 3)
    assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert (probabilities >= 0).all()


def test_confidence_is_higher_for_a_clear_message_than_for_a_mixed_or_unrelated_one(
    trained: CategoryRouter,
) -> None:
    clear = "路面坑洼，井盖缺失，路灯不亮，红绿灯坏了"
    mixed = "路面坑洼，医院挂号"
    unrelated = "今天天气很好"
    (clear_label, clear_conf), (_, mixed_conf), (_, unrelated_conf) = trained.predict(
        [clear, mixed, unrelated]
    )

    assert clear_label == "roads"
    assert clear_conf > 0.8
    assert clear_conf > mixed_conf
    assert clear_conf > unrelated_conf
    # Digits and full-width characters are normalised: the same message, the same answer.
    assert trained.predict(["路灯不亮１２３号"]) == trained.predict(["路灯不亮45号"])


def test_training_needs_two_categories_and_matching_lengths() -> None:
    with pytest.raises(RouterError, match="two categories"):
        CategoryRouter().fit(["路灯不亮", "路面坑洼"], ["roads", "roads"])
    with pytest.raises(RouterError, match="length"):
        CategoryRouter().fit(["路灯不亮"], ["roads", "health"])
    with pytest.raises(RouterError, match="not trained"):
        CategoryRouter().predict(["路灯不亮"])


def test_save_and_load_give_the_same_predictions(trained: CategoryRouter, tmp_path: Path) -> None:
    path = trained.save(tmp_path / "models" / "router.joblib")
    header = joblib.load(path)
    loaded = CategoryRouter.load(path)
    texts, _ = corpus(5, seed=7)

    assert header["format_version"] == router.FORMAT_VERSION
    assert header["sklearn_version"] == sklearn.__version__
    assert header["labels"] == sorted(TOPICS)
    assert loaded.predict(texts) == trained.predict(texts)
    assert not list(path.parent.glob(".*.tmp"))


def test_a_model_from_another_scikit_learn_or_format_is_refused(
    trained: CategoryRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = trained.save(tmp_path / "router.joblib")
    with monkeypatch.context() as patch:
        patch.setattr(sklearn, "__version__", "0.1.0")
        with pytest.raises(RouterVersionError, match=r"scikit-learn .*retrain"):
            CategoryRouter.load(path)

    with monkeypatch.context() as patch:
        patch.setattr(router, "FORMAT_VERSION", router.FORMAT_VERSION + 1)
        newer = trained.save(tmp_path / "newer.joblib")
    with pytest.raises(RouterVersionError, match="format"):
        CategoryRouter.load(newer)

    joblib.dump(["not", "a", "model"], tmp_path / "other.joblib")
    with pytest.raises(RouterVersionError, match="not a civichub router model"):
        CategoryRouter.load(tmp_path / "other.joblib")


# The deployment's model ---------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_trained_model_classify_falls_back_to_keywords(data_dir: Path) -> None:
    assert not routing.model_path().exists()
    assert routing.predict_category("路灯不亮") == (None, 0.0)
    # No categories with keywords in this database either: nothing to route by.
    assert routing.classify("路灯不亮") == (None, 0.0)


def test_classify_uses_the_trained_model_and_reloads_it_when_the_file_changes(
    data_dir: Path, trained: CategoryRouter
) -> None:
    path = trained.save(routing.model_path())
    assert path == data_dir / "models" / "router.joblib"

    label, confidence = routing.classify("路面坑洼，井盖缺失，路灯不亮")
    assert label == "roads" and 0.5 < confidence <= 1.0
    assert routing.predict_category("医院挂号，药费太贵")[0] == "health"
    assert routing.deployment_router() is routing.deployment_router()  # cached

    texts, labels = corpus(20, seed=3)
    renamed = ["transport" if label == "roads" else label for label in labels]
    CategoryRouter(calibrate=False).fit(texts, renamed).save(path)
    assert routing.classify("路面坑洼，井盖缺失，路灯不亮")[0] == "transport"

    path.unlink()
    assert routing.predict_category("路面坑洼") == (None, 0.0)


def test_training_chooses_by_cross_validation_and_reports_every_candidate(
    data_dir: Path,
) -> None:
    texts, labels = corpus(20)
    report = routing.train_from_cases(zip(texts, labels, strict=True), min_per_category=5)

    assert report.messages == 60 and report.folds == 3
    singles = {c.name for c in router.CANDIDATES}
    (ensemble,) = set(report.candidates) - singles  # the two best, averaged
    assert singles < set(report.candidates) and ensemble.startswith(f"{router.ENSEMBLE}(")
    assert report.chosen in report.candidates
    assert report.macro_f1 == report.candidates[report.chosen][0]
    assert report.baseline_macro_f1 == report.candidates[router.BASELINE.name][0]
    assert report.macro_f1 >= report.baseline_macro_f1
    assert report.macro_f1 > 0.8
    assert report.path == routing.model_path() and report.path.exists()
    assert CategoryRouter.load(report.path).settings.name == report.chosen
    text = routing.describe(report)
    assert "macro_f1:" in text and "precision" in text and "schools" in text
    assert f"chosen: {report.chosen}" in text and "(baseline)" in text


def test_training_counts_near_duplicates_once_with_their_first_category(data_dir: Path) -> None:
    """A message sent again with other punctuation, spacing, width or case is one message: a
    copy on each side of a split would flatter the cross-validated figures."""
    texts, labels = corpus(20)
    copies = [
        (f"  {texts[0].upper()}!! ", labels[0]),
        (texts[1].replace(" ", "\u3000") + "。", labels[-1]),  # another category: ignored
        (texts[2], labels[2]),
    ]
    samples = list(zip(texts, labels, strict=True)) + copies
    report = routing.train_from_cases(samples, min_per_category=5)
    assert report.messages == 60 and report.near_duplicates == 3
    assert "left out (near-duplicates of another message): 3" in routing.describe(report)
    assert router.near_duplicate_key("Ａ b,c") == router.near_duplicate_key("abc")
    assert router.near_duplicate_key("路灯 不亮") != router.near_duplicate_key("路灯 亮")


# Selection ----------------------------------------------------------------------------------

WORDS: dict[str, list[str]] = {
    "parks": ["bench", "playground", "tree", "grass", "fountain", "swing"],
    "water": ["leak", "pipe", "hydrant", "flood", "drain", "meter"],
    "noise": ["music", "party", "barking", "drilling", "construction", "shouting"],
}
ENGLISH_FILLERS = ["please", "fix", "near", "the", "corner", "since", "monday", "our", "street"]


def english_corpus(per_topic: int, seed: int = 1) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[str] = []
    for _ in range(per_topic):
        for topic, words in WORDS.items():
            chosen = rng.sample(words, 2) + rng.sample(ENGLISH_FILLERS, 4)
            rng.shuffle(chosen)
            texts.append(" ".join(chosen).capitalize() + ".")
            labels.append(topic)
    return texts, labels


def test_selection_never_chooses_a_model_below_the_baseline() -> None:
    texts, labels = corpus(20)
    weak = router.RouterSettings("weak", "svm", "char_wb", c=1e-6)
    selection = router.select(texts, labels, candidates=[weak, router.BASELINE])

    assert selection.folds == 3
    assert selection.mean(router.BASELINE.name) > selection.mean("weak")
    assert selection.chosen == router.BASELINE
    assert len(selection.fold_f1["weak"]) == 3 and selection.spread("weak") >= 0.0
    assert len(selection.out_of_fold) == len(texts)


def test_the_ensemble_of_the_two_best_is_chosen_only_when_it_beats_both() -> None:
    texts, labels = noisy_corpus(30, seed=4, noise=0.2)
    selection = router.select(texts, labels)
    singles = [selection.mean(c.name) for c in router.CANDIDATES]
    (ensemble,) = set(selection.fold_f1) - {c.name for c in router.CANDIDATES}
    if selection.members:
        assert selection.chosen.name == ensemble and selection.chosen.classifier == "ensemble"
        assert selection.mean(ensemble) > max(singles) and len(selection.member_scales) == 2
    else:
        assert selection.chosen in router.CANDIDATES
        assert selection.mean(selection.chosen.name) == max(singles) >= selection.mean(ensemble)


def test_an_ensemble_averages_its_members_and_survives_saving(tmp_path: Path) -> None:
    members = (router.BASELINE, router.CANDIDATES[-1])
    settings = router.RouterSettings("ensemble(test)", router.ENSEMBLE)
    for make in (english_corpus, corpus):
        texts, labels = make(30)
        model = router.EnsembleRouter(
            settings=settings, members=members, member_scales=(2.0, 3.0)
        ).fit(texts, labels)
        unseen, truth = make(10, seed=77)
        predicted = model.predict(unseen)
        assert sum(p == t for (p, _), t in zip(predicted, truth, strict=True)) >= 0.9 * len(truth)
        first = [m.probabilities(unseen) for m in model.members]
        assert [m.scale for m in model.members] == [2.0, 3.0]
        mean = (first[0] + first[1]) / 2
        assert abs(model.probabilities(unseen) - mean).max() < 1e-6  # scale 1: the mean itself
        loaded = CategoryRouter.load(model.save(tmp_path / "ensemble.joblib"))
        assert isinstance(loaded, router.EnsembleRouter) and loaded.predict(unseen) == predicted


def test_selection_without_enough_messages_per_category_keeps_the_default() -> None:
    selection = router.select(["路灯不亮", "医院挂号", "医院挂号难"], ["roads", "health", "health"])
    assert selection.folds == 0 and selection.chosen == router.DEFAULT_SETTINGS
    assert selection.fold_f1 == {}


def test_word_ngrams_are_words_and_pairs_in_any_script() -> None:
    english = router.word_ngrams("Water LEAK near the corner, since 12 May!")
    assert english[:5] == ["water", "leak", "near", "the", "corner"]
    assert "water leak" in english and "0" in english  # digit runs fold to 0
    chinese = router.word_ngrams("小区门口路灯坏了")
    assert "路灯" in chinese and all("，" not in w for w in chinese)


@pytest.mark.parametrize("candidate", router.CANDIDATES, ids=lambda s: s.name)
def test_every_candidate_learns_english_and_chinese_and_survives_saving(
    candidate: router.RouterSettings, tmp_path: Path
) -> None:
    for make in (english_corpus, corpus):
        texts, labels = make(30)
        model = CategoryRouter(settings=candidate).fit(texts, labels)
        unseen, truth = make(10, seed=77)
        predicted = [label for label, _ in model.predict(unseen)]
        correct = sum(p == t for p, t in zip(predicted, truth, strict=True))
        assert correct / len(truth) >= 0.9, (candidate.name, make.__name__)
        loaded = CategoryRouter.load(model.save(tmp_path / f"{candidate.name}.joblib"))
        assert loaded.predict(unseen) == model.predict(unseen)


def test_a_plain_svm_tells_two_categories_apart_with_calibrated_confidence() -> None:
    texts, labels = english_corpus(30)
    keep = [i for i, label in enumerate(labels) if label != "noise"]
    model = CategoryRouter(settings=router.BASELINE).fit(
        [texts[i] for i in keep], [labels[i] for i in keep]
    )
    (label, confidence), (_, unrelated) = model.predict(
        ["Pipe leak and a flooded drain", "Hello, how are you"]
    )
    assert label == "water" and confidence > 0.8
    assert unrelated < confidence


def noisy_corpus(per_topic: int, seed: int, noise: float) -> tuple[list[str], list[str]]:
    """Messages whose label is another category's with probability `noise`, as when senders
    and staff file some messages under the wrong category."""
    rng = random.Random(seed)
    texts, labels = corpus(per_topic, seed=seed)
    return texts, [
        rng.choice([t for t in TOPICS if t != label]) if rng.random() < noise else label
        for label in labels
    ]


def test_the_chosen_model_is_as_confident_as_it_is_right() -> None:
    texts, labels = noisy_corpus(60, seed=2, noise=0.25)
    model, selection = router.fit_selected(texts, labels)
    assert model.settings == selection.chosen and model.scale == selection.scale

    unseen, truth = noisy_corpus(60, seed=8, noise=0.25)
    predicted = model.predict(unseen)
    accuracy = sum(p == t for (p, _), t in zip(predicted, truth, strict=True)) / len(truth)
    confidence = sum(c for _, c in predicted) / len(predicted)
    assert 0.6 < accuracy < 0.9
    assert abs(confidence - accuracy) < 0.1


# Training from the cases --------------------------------------------------------------------


def test_train_from_cases_reads_the_categories_people_decided(
    data_dir: Path, cw: Any, submit: Callable[..., Case]
) -> None:
    rng = random.Random(5)
    health = ["医院挂号排队", "医生看病", "门诊药费"]
    security = ["小区盗窃", "小偷偷车", "治安不好"]
    for i in range(12):
        submit(
            title=rng.choice(health),
            text=f"第{i}次反映，{rng.choice(health)}。",
            category_key="health",
        )
        submit(
            title=rng.choice(security),
            text=f"第{i}次反映，{rng.choice(security)}。",
            category_key="security",
        )
    # A case the router placed and nobody has confirmed is not a label.
    unconfirmed = submit(title="医院挂号难", text="看病难。")
    assert unconfirmed.category_source != CategorySource.SENDER
    assert unconfirmed.status != CaseStatus.CLOSED

    report = routing.train_from_cases(min_per_category=5)

    assert report.messages == 24
    assert report.categories == ["health", "security"]
    assert routing.classify("小区里有小偷盗窃")[0] == "security"


# The command --------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "topic"])
        writer.writerows(rows)
    return path


def test_train_router_command_from_csv_prints_the_report_and_saves(
    data_dir: Path, tmp_path: Path
) -> None:
    texts, labels = corpus(20)
    source = write_csv(tmp_path / "past.csv", list(zip(texts, labels, strict=True)))
    out = io.StringIO()
    call_command(
        "casework",
        "train-router",
        "--from-csv",
        str(source),
        "--text-column",
        "body",
        "--label-column",
        "topic",
        "--min-per-category",
        "5",
        stdout=out,
    )
    printed = out.getvalue()

    assert "messages: 60" in printed
    assert "precision" in printed and "recall" in printed
    for topic in TOPICS:
        assert topic in printed
    assert "macro_f1: " in printed
    assert (data_dir / "models" / "router.joblib").exists()
    assert routing.classify("学校收费，老师补课")[0] == "schools"


def test_train_router_command_refuses_too_little_data_and_bad_files(
    data_dir: Path, tmp_path: Path
) -> None:
    small = write_csv(tmp_path / "small.csv", [("路灯不亮", "roads"), ("医院挂号", "health")])
    with pytest.raises(CommandError, match="too little labelled data"):
        call_command(
            "casework",
            "train-router",
            "--from-csv",
            str(small),
            "--text-column",
            "body",
            "--label-column",
            "topic",
            stdout=io.StringIO(),
        )
    with pytest.raises(CommandError, match="no column text"):
        call_command("casework", "train-router", "--from-csv", str(small), stdout=io.StringIO())
    with pytest.raises(CommandError, match="cannot read"):
        call_command(
            "casework",
            "train-router",
            "--from-csv",
            str(tmp_path / "missing.csv"),
            stdout=io.StringIO(),
        )
    assert not (data_dir / "models" / "router.joblib").exists()


@pytest.mark.django_db
def test_train_router_command_refuses_a_deployment_without_labelled_cases(
    data_dir: Path,
) -> None:
    with pytest.raises(
        CommandError, match="too little labelled data to train the router: 0 messages"
    ):
        call_command("casework", "train-router", stdout=io.StringIO())
