"""The structure study's claims in words, each with hand-made numbers that support it and numbers
that do not: an edit helps or costs only where the interval says so; a grown network computes the
source's function only where its logits stay within float tolerance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.config import RunConfig
from workbench.experiments import VariantComparison
from workbench.findings import describe_edit_against, describe_function_preservation, describe_structure_study

FRESH, PLAIN, CUT = "structure (fresh weights)", "parameter", "cut + new top"


@dataclass
class FakeRun:
    """What a VariantComparison reads from a run."""

    arm: str
    seed: int
    test_accuracy: float
    transfer_report: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        return {"seed": self.seed, "mode": "structure" if self.arm == FRESH else "parameter"}

    @property
    def name(self) -> str:
        return f"{self.arm}-s{self.seed}"


def comparison(values: dict[str, list[float]]) -> VariantComparison:
    variants = {arm: {"mode": "structure" if arm == FRESH else "parameter"} for arm in values}
    study = VariantComparison(RunConfig(kind="transfer", source="s", task="mnist-5k:5-9"), [0, 1, 2],
                              variants, FRESH)
    study.runs_by_arm = {arm: [FakeRun(arm, seed, value) for seed, value in enumerate(arm_values)]
                         for arm, arm_values in values.items()}
    return study


def test_an_edit_is_said_to_cost_accuracy_only_when_its_interval_lies_below_zero() -> None:
    clear = comparison({FRESH: [0.5, 0.52, 0.48], PLAIN: [0.80, 0.82, 0.81], CUT: [0.70, 0.71, 0.72]})
    text = describe_edit_against(clear, CUT, PLAIN)
    assert f"**{CUT}** costs accuracy against **{PLAIN}**" in text and "worse than parameter" in text
    noisy = comparison({FRESH: [0.5, 0.52, 0.48], PLAIN: [0.80, 0.70, 0.81], CUT: [0.75, 0.78, 0.76]})
    text = describe_edit_against(noisy, CUT, PLAIN)
    assert "costs" not in text and "does better" not in text
    assert "no difference to **parameter** that these seeds can tell from noise" in text
    assert "could only have seen differences above" in text  # what the seeds could have detected


def test_an_edit_is_said_to_do_better_only_when_its_interval_lies_above_zero() -> None:
    clear = comparison({FRESH: [0.5, 0.52, 0.48], PLAIN: [0.70, 0.71, 0.72], CUT: [0.80, 0.82, 0.81]})
    assert f"**{CUT}** does better than **{PLAIN}**" in describe_edit_against(clear, CUT, PLAIN)
    one_seed = comparison({FRESH: [0.5], PLAIN: [0.7], CUT: [0.9]})
    text = describe_edit_against(one_seed, CUT, PLAIN)
    assert "undecided" in text and "does better" not in text
    assert describe_edit_against(comparison({FRESH: [0.5], PLAIN: [0.7]}), CUT, PLAIN) == ""


def test_the_study_says_each_arm_against_fresh_weights_and_each_edit_against_plain_transfer() -> None:
    study = comparison({FRESH: [0.5, 0.52, 0.48], PLAIN: [0.80, 0.82, 0.81], CUT: [0.50, 0.53, 0.47]})
    text = describe_structure_study(study, PLAIN)
    assert f"- **{PLAIN}**:" in text and f"beats {FRESH} (95% CI above 0)" in text
    assert f"- **{CUT}**:" in text and f"not distinguishable from {FRESH}" in text
    assert f"**{CUT}** costs accuracy against **{PLAIN}**" in text
    assert "Function preservation" not in text  # no check given, no claim


def test_a_grown_network_is_said_to_compute_the_sources_function_only_within_float_tolerance() -> None:
    check = {"edits": "widen dense1 to 128", "grow_noise": 0.0, "images": 256, "max_abs_logit": 12.0,
             "max_abs_logit_difference": 3e-6, "grown_layers": ["dense1_dense"]}
    exact = describe_function_preservation(check)
    assert "it computes the source's function" in exact and "3.0e-06" in exact and "256 target test images" in exact
    changed = describe_function_preservation({**check, "max_abs_logit_difference": 0.4})
    assert "does not compute the source's function" in changed and "computes the source's function." not in changed
    noisy = describe_function_preservation({**check, "grow_noise": 0.05, "max_abs_logit_difference": 0.4})
    assert "grow_noise 0.050 moves it off the source's function" in noisy
    unmeasured = describe_function_preservation({**check, "max_abs_logit_difference": float("nan")})
    assert "could not be measured" in unmeasured and "computes" not in unmeasured
    study = comparison({FRESH: [0.5, 0.52, 0.48], PLAIN: [0.80, 0.82, 0.81]})
    assert "it computes the source's function" in describe_structure_study(study, PLAIN, check)
