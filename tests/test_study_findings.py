"""The findings' rule: a difference is stated only beyond twice its standard error; ties and noise are never ranked."""

import random

import pytest
from scipy import stats

from keras_cnn.studies.findings import (
    augmentations_finding,
    dropout_rate_finding,
    lr_batch_finding,
    momentum_decay_finding,
)
from keras_cnn.studies.noise import difference, ordering_text, summarize, versus_constant
from keras_cnn.studies.results import Results


def made_up(points: dict[str, tuple[dict, list]], diverged: dict | None = None, **other_metrics) -> Results:
    """Results of made-up runs: point -> (its settings, one final test accuracy per seed)."""
    runs = {}
    for point, (settings, values) in points.items():
        for seed, value in enumerate(values):
            metrics = {"final_test_accuracy": value} | {key: per_point[point][seed]
                                                        for key, per_point in other_metrics.items()}
            runs[f"{point}_seed-{seed}"] = {"point": point, "seed": seed, "settings": settings, "metrics": metrics,
                                            "diverged": (diverged or {}).get((point, seed)), "classes": 10}
    return Results(runs, {point: settings for point, (settings, _) in points.items()})


def test_measurable_means_beyond_two_standard_errors_as_welchs_t_statistic_says():
    generator = random.Random(0)
    for _ in range(200):
        a = [generator.gauss(0.6, 0.02) for _ in range(3)]
        b = [generator.gauss(0.6 + generator.uniform(-0.06, 0.06), 0.02) for _ in range(generator.choice((2, 3, 5)))]
        t = stats.ttest_ind(a, b, equal_var=False).statistic
        change = difference(summarize(a), summarize(b))
        assert change.standard_error == pytest.approx(change.delta / t)
        assert change.measurable == (abs(t) > 2)


def test_ties_single_seeds_and_diverged_runs_are_never_measurable():
    tie = summarize([0.1, 0.1, 0.1])
    assert not difference(tie, tie).measurable
    assert not difference(summarize([0.9]), summarize([0.1])).measurable  # one seed: no spread
    assert not difference(summarize([None, float("nan")]), tie).measurable  # nothing finite
    assert versus_constant(summarize([0.5, 0.52, 0.51]), 0.1).measurable
    assert not versus_constant(summarize([0.09, 0.12, 0.10]), 0.1).measurable


def test_five_rates_that_all_end_at_chance_are_a_tie_not_a_ranking():
    rates = made_up({f"dropout-{p:g}": ({"dropout": p}, [0.1, 0.1, 0.1]) for p in (0.0, 0.25, 0.5, 0.75, 0.9)})
    first = dropout_rate_finding(rates)[0]
    assert first.startswith("No difference in final test accuracy is measurable at this scale among p = 0 10.0%")
    assert "highest" not in first.lower()


def test_differences_inside_the_seed_spread_are_not_ranked_and_clear_ones_are():
    noisy = made_up({"dropout-0": ({"dropout": 0.0}, [0.55, 0.60, 0.65]),
                     "dropout-0.5": ({"dropout": 0.5}, [0.57, 0.62, 0.66])})
    assert dropout_rate_finding(noisy)[0].startswith("No difference in final test accuracy is measurable")
    clear = made_up({"dropout-0": ({"dropout": 0.0}, [0.60, 0.61, 0.60]),
                     "dropout-0.5": ({"dropout": 0.5}, [0.66, 0.67, 0.66]),
                     "dropout-0.9": ({"dropout": 0.9}, [0.52, 0.50, 0.51])})
    assert dropout_rate_finding(clear)[0] == (
        "Highest final test accuracy: p = 0.5 66.3% (sd 0.6; seeds 66.0, 67.0, 66.0). Measurably lower: "
        "p = 0 60.3% (sd 0.6; seeds 60.0, 61.0, 60.0); p = 0.9 51.0% (sd 1.0; seeds 52.0, 50.0, 51.0).")


def test_the_top_group_lists_every_point_within_the_noise_of_the_highest_without_ordering_them():
    text = ordering_text({"a": summarize([0.70, 0.71, 0.72]), "b": summarize([0.72, 0.70, 0.73]),
                          "c": summarize([0.50, 0.51, 0.50])}, "accuracy")
    assert text.startswith("Highest accuracy, not measurably different from each other: a 71.0%")
    assert "; b 71.7%" in text and text.endswith("Measurably lower: c 50.3% (sd 0.6; seeds 50.0, 51.0, 50.0).")


def test_overfitting_is_stated_only_when_the_gap_exceeds_its_noise():
    points = {"dropout-0": ({"dropout": 0.0}, [0.60, 0.61, 0.62]),
              "dropout-0.9": ({"dropout": 0.9}, [0.60, 0.62, 0.61])}
    train = {"dropout-0": [0.99, 0.99, 1.0], "dropout-0.9": [0.58, 0.66, 0.60]}
    lines = dropout_rate_finding(made_up(points, final_train_eval_accuracy=train))
    assert "p = 0: train accuracy in inference mode 99.3%" in lines[1]
    assert lines[1].endswith("the network overfits: the gap is measurably above zero.")
    assert lines[2].endswith("the network does not measurably overfit.")


def test_lr_batch_reports_divergence_and_which_runs_left_chance():
    grid = {f"lr-{lr:g}_batch-{b}": ({"lr": lr, "batch_size": b}, values) for lr, b, values in (
        (0.01, 128, [0.11, 0.09, 0.10]), (0.1, 128, [0.45, 0.47, 0.44]), (1.0, 128, [0.1, 0.1, 0.1]))}
    lines = lr_batch_finding(made_up(grid, diverged={("lr-1_batch-128", s): 1 for s in range(3)}))
    assert lines[0] == "Diverged (loss not finite): lr 1 / batch 128 diverged in 3 of 3 seeds (epoch 1, 1, 1)."
    assert lines[1] == ("Measurably above chance (10%) at the last epoch: lr 0.1 / batch 128; not measurably above it: "
                        "lr 0.01 / batch 128.")
    assert lines[2].startswith("Highest final test accuracy: lr 0.1 / batch 128 45.3%")


def test_augmentations_are_grouped_by_the_rule_against_no_augmentation():
    points = {"augment-none": ({"augment": "none"}, [0.60, 0.61, 0.60]),
              "augment-flip": ({"augment": "flip"}, [0.64, 0.65, 0.64]),
              "augment-color": ({"augment": "color"}, [0.58, 0.63, 0.60]),
              "augment-cutmix": ({"augment": "cutmix"}, [0.50, 0.51, 0.50])}
    assert augmentations_finding(made_up(points))[2] == (
        "Measurably above no augmentation: flip; measurably below it: cutmix; no measurable difference: color.")


def test_momentum_decay_compares_each_change_with_its_own_reference():
    values = {(0.1, 0.0, 1.0): [0.50, 0.52, 0.51], (0.1, 0.9, 1.0): [0.1, 0.1, 0.1],
              (0.1, 0.0, 0.95): [0.55, 0.56, 0.55], (0.1, 0.9, 0.95): [0.1, 0.1, 0.1],
              (0.01, 0.0, 1.0): [0.40, 0.41, 0.40], (0.01, 0.9, 1.0): [0.58, 0.59, 0.6],
              (0.01, 0.0, 0.95): [0.39, 0.41, 0.40], (0.01, 0.9, 0.95): [0.60, 0.61, 0.62]}
    points = {f"{lr}-{m}-{d}": ({"lr": lr, "momentum": m, "lr_decay": d}, v) for (lr, m, d), v in values.items()}
    lines = momentum_decay_finding(made_up(points))
    assert lines[0].endswith("51.0% (sd 1.0; seeds 50.0, 52.0, 51.0) -> 61.0% (sd 1.0; seeds 60.0, 61.0, 62.0) "
                             "(+10.0 pp, measurable (2 SE 1.6 pp)).")
    assert "decay alone 40.0% (sd 1.0; seeds 39.0, 41.0, 40.0) (-0.3 pp, not measurable" in lines[2]


def test_keras_cnn_study_is_the_function_on_every_call():
    """The package holding the studies is keras_cnn.studies, so importing it never hides the function."""
    import keras_cnn
    import keras_cnn.studies.noise  # noqa: F401  (imports the package, as a user's code may)

    assert callable(keras_cnn.study) and keras_cnn.study is keras_cnn.study
