"""Early-stopping decisions pinned on hand-computed curves, through Optuna's own report/should_prune path.

Each test builds a study of finished trials with known curves, starts one more trial, reports its
curve and asks `should_prune()`, exactly as the local runner does after every metric line.
"""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo_flow.adapters.local.pruners import BanditPruner, MedianStoppingPruner, TruncationPruner
from hpo_flow.adapters.local.search import build_pruner
from tests.helpers import make_config

pytestmark = pytest.mark.unit

optuna.logging.set_verbosity(optuna.logging.WARNING)

Curve = dict[int, float]


def study_of(
    pruner: optuna.pruners.BasePruner, direction: str, *curves: Curve, state: TrialState = TrialState.COMPLETE
):
    study = optuna.create_study(direction=direction, pruner=pruner)
    for curve in curves:
        value = curve[max(curve)] if state == TrialState.COMPLETE else None
        study.add_trial(create_trial(state=state, value=value, intermediate_values=curve))
    return study


def stops(study: optuna.Study, curve: Curve) -> bool:
    """Report `curve` from a new running trial; the decision after its last step.

    The trial is then closed as failed, which no policy compares with, so the next call on the same
    study sees the same peers.
    """
    trial = study.ask()
    for step, value in sorted(curve.items()):
        trial.report(value, step)
    decision = trial.should_prune()
    study.tell(trial, state=TrialState.FAIL)
    return decision


# --------------------------------------------------------------------------- bandit


class TestBandit:
    def test_maximize_slack_factor(self) -> None:
        # best at step 3 is 0.88; threshold 0.88 / (1 + 0.1) = 0.80
        study = study_of(BanditPruner(slack_factor=0.1), "maximize", {1: 0.5, 2: 0.7, 3: 0.88}, {1: 0.4, 3: 0.6})
        assert stops(study, {1: 0.5, 2: 0.6, 3: 0.79})  # 0.79 < 0.80
        assert not stops(study, {1: 0.5, 2: 0.6, 3: 0.81})  # 0.81 >= 0.80

    def test_minimize_slack_factor(self) -> None:
        # best (lowest) loss at step 2 is 0.50; threshold 0.50 * (1 + 0.2) = 0.60
        study = study_of(BanditPruner(slack_factor=0.2), "minimize", {1: 0.9, 2: 0.5}, {1: 0.8, 2: 0.7})
        assert stops(study, {1: 0.9, 2: 0.61})  # 0.61 > 0.60
        assert not stops(study, {1: 0.9, 2: 0.59})

    def test_minimize_slack_amount(self) -> None:
        # best loss at step 2 is 0.30; threshold 0.30 + 0.05 = 0.35
        study = study_of(BanditPruner(slack_amount=0.05), "minimize", {1: 0.5, 2: 0.30}, {1: 0.6, 2: 0.42})
        assert stops(study, {1: 0.5, 2: 0.36})
        assert not stops(study, {1: 0.5, 2: 0.34})

    def test_maximize_slack_amount(self) -> None:
        # best at step 1 is 0.9; threshold 0.9 - 0.1 = 0.8
        study = study_of(BanditPruner(slack_amount=0.1), "maximize", {1: 0.9})
        assert stops(study, {1: 0.79})
        assert not stops(study, {1: 0.81})

    def test_compares_with_the_best_at_the_same_step(self) -> None:
        # The peer reaches 0.95 at step 5, but at step 2 it had 0.40: threshold 0.40 / 1.1 = 0.364.
        study = study_of(BanditPruner(slack_factor=0.1), "maximize", {1: 0.2, 2: 0.40, 5: 0.95})
        assert not stops(study, {1: 0.2, 2: 0.37})  # 0.37 >= 0.364, though far below the peer's final 0.95
        assert stops(study, {1: 0.2, 2: 0.36})

    def test_interval_and_delay(self) -> None:
        # interval 2, delay 3: judged at steps 4, 6, ... (multiples of 2 that are >= 3); best 1.0 at every step,
        # threshold 1.0 / 1.1 = 0.909
        peer = {s: 1.0 for s in range(1, 7)}
        study = study_of(BanditPruner(slack_factor=0.1, evaluation_interval=2, delay_evaluation=3), "maximize", peer)
        assert not stops(study, {1: 0.1, 2: 0.1})  # step 2: a multiple of 2, but before the delay
        assert not stops(study, {1: 0.1, 2: 0.1, 3: 0.1})  # step 3: past the delay, not a multiple of 2
        assert stops(study, {1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1})  # step 4: judged, 0.1 < 0.909

    def test_delay_applies_from_the_delay_step_itself(self) -> None:
        # Azure: "the policy applies every multiple of evaluation_interval that is greater than or equal to
        # delay_evaluation": with interval 1 and delay 5, step 4 is not judged and step 5 is.
        study = study_of(BanditPruner(slack_amount=0.1, delay_evaluation=5), "maximize", {s: 0.9 for s in range(1, 6)})
        assert not stops(study, {s: 0.1 for s in range(1, 5)})
        assert stops(study, {s: 0.1 for s in range(1, 6)})

    def test_negative_metric_keeps_the_best_trial(self) -> None:
        # Maximizing a negative metric: best -1.0; allowance |-1.0| * (1 - 1/1.1) = 0.0909; threshold -1.0909.
        # (best / 1.1 = -0.909 would be *above* the best and stop the best trial itself.)
        study = study_of(BanditPruner(slack_factor=0.1), "maximize", {1: -1.0})
        assert not stops(study, {1: -1.0})
        assert not stops(study, {1: -1.05})
        assert stops(study, {1: -1.2})

    def test_running_trials_count_as_peers(self) -> None:
        study = optuna.create_study(direction="maximize", pruner=BanditPruner(slack_factor=0.1))
        leader = study.ask()
        leader.report(0.9, 1)  # still running; threshold 0.9 / 1.1 = 0.818
        assert stops(study, {1: 0.8})

    def test_failed_trials_do_not_count(self) -> None:
        study = study_of(BanditPruner(slack_factor=0.1), "maximize", {1: 0.99}, state=TrialState.FAIL)
        assert not stops(study, {1: 0.5})

    def test_alone_never_stops(self) -> None:
        study = optuna.create_study(direction="maximize", pruner=BanditPruner(slack_factor=0.1))
        assert not stops(study, {1: 0.01, 2: 0.01})

    def test_nan_is_stopped_when_judged(self) -> None:
        study = study_of(BanditPruner(slack_factor=0.1, delay_evaluation=2), "minimize", {1: 1.0, 2: 1.0})
        assert not stops(study, {1: math.nan})
        assert stops(study, {1: 1.0, 2: math.nan})

    def test_bad_arguments_are_refused(self) -> None:
        with pytest.raises(ValueError, match="exactly one of slack_factor or slack_amount"):
            BanditPruner(slack_factor=0.1, slack_amount=0.1)
        with pytest.raises(ValueError, match=r"slack_factor must be > 0, got -0\.1"):
            BanditPruner(slack_factor=-0.1)
        with pytest.raises(ValueError, match="evaluation_interval must be an integer >= 1, got 0"):
            BanditPruner(slack_factor=0.1, evaluation_interval=0)


# --------------------------------------------------------------------------- median


class TestMedian:
    # Five completed peers; their values at step 3: 0.9, 0.7, 0.85, 0.8, 0.6 -> median 0.8.
    PEERS = (
        {1: 0.5, 2: 0.7, 3: 0.9},
        {1: 0.3, 2: 0.5, 3: 0.7},
        {1: 0.6, 2: 0.8, 3: 0.85},
        {1: 0.5, 2: 0.6, 3: 0.8},
        {1: 0.2, 2: 0.4, 3: 0.6},
    )

    def test_best_so_far_against_the_median_of_completed_values_at_the_step(self) -> None:
        study = study_of(MedianStoppingPruner(), "maximize", *self.PEERS)
        assert stops(study, {1: 0.4, 2: 0.79, 3: 0.6})  # best so far 0.79 < 0.8
        # best so far 0.81 > 0.8: kept, although its current 0.6 is below the median
        assert not stops(study, {1: 0.4, 2: 0.81, 3: 0.6})

    def test_values_at_the_step_not_running_averages(self) -> None:
        # The peers' running averages over steps 1..3 have median 0.633 (Azure's rule): a trial at
        # 0.75 would go on there; against the values at step 3 (median 0.8) it stops.
        study = study_of(MedianStoppingPruner(), "maximize", *self.PEERS)
        assert stops(study, {1: 0.3, 2: 0.5, 3: 0.75})

    def test_only_completed_trials_are_peers_and_three_of_them_are_needed(self) -> None:
        study = study_of(MedianStoppingPruner(), "maximize", *self.PEERS[:2])  # 0.9, 0.7
        bad = {1: 0.1, 2: 0.1, 3: 0.1}
        assert not stops(study, bad)  # two completed peers: not judged yet
        for state in (TrialState.PRUNED, TrialState.RUNNING):
            study.add_trial(create_trial(state=state, intermediate_values={1: 0.0, 2: 0.0, 3: 0.0}, value=None))
        assert not stops(study, bad)  # stopped and running trials do not count
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.85, intermediate_values=self.PEERS[2]))
        assert stops(study, bad)
        assert not stops(study, {3: 0.85})  # the median of 0.9, 0.7, 0.85 is 0.85: not worse
        assert stops(study, {3: 0.84})
        assert MedianStoppingPruner(min_completed=1).describe()["min_completed"] == 1

    def test_minimize(self) -> None:
        # Losses at step 2 of five completed peers: 1.0, 0.6, 2.0, 1.5, 3.0 -> median 1.5
        peers = ({1: 2.0, 2: 1.0}, {1: 1.0, 2: 0.6}, {1: 3.0, 2: 2.0}, {1: 2.0, 2: 1.5}, {1: 4.0, 2: 3.0})
        study = study_of(MedianStoppingPruner(), "minimize", *peers)
        assert stops(study, {1: 1.6, 2: 1.7})  # best (lowest) so far 1.6 > 1.5
        assert not stops(study, {1: 1.6, 2: 1.4})  # best 1.4 < 1.5

    def test_even_count_median_and_peers_that_did_not_reach_the_step(self) -> None:
        # Six completed peers; one ended at step 1 and is left out at step 2. Values at step 2:
        # 0.2, 0.4, 0.6, 0.8, 1.0 -> median 0.6 (five); at step 1 there are six: 0.1 .. 0.6 -> 0.35.
        peers = [{1: 0.1 * k, 2: 0.2 * k} for k in range(1, 6)] + [{1: 0.6}]
        study = study_of(MedianStoppingPruner(), "maximize", *peers)
        assert stops(study, {1: 0.34})
        assert not stops(study, {1: 0.36})
        assert stops(study, {1: 0.3, 2: 0.59})
        assert not stops(study, {1: 0.3, 2: 0.61})

    def test_interval_and_delay(self) -> None:
        peers = [{s: 0.9 for s in range(1, 7)}] * 5
        study = study_of(MedianStoppingPruner(evaluation_interval=3, delay_evaluation=4), "maximize", *peers)
        bad = {s: 0.1 for s in range(1, 7)}
        assert not stops(study, {s: bad[s] for s in range(1, 4)})  # step 3: a multiple of 3, before the delay
        assert not stops(study, {s: bad[s] for s in range(1, 5)})  # step 4: not a multiple of 3
        assert stops(study, bad)  # step 6: judged; 0.1 < 0.9

    def test_alone_never_stops(self) -> None:
        study = optuna.create_study(direction="maximize", pruner=MedianStoppingPruner(min_completed=1))
        assert not stops(study, {1: 0.0})

    def test_a_trial_within_one_percent_of_the_median_goes_on(self) -> None:
        # Median 0.8 at step 3; 1% of it is 0.008: a best so far of 0.795 is close enough, 0.791 is not.
        study = study_of(MedianStoppingPruner(), "maximize", *self.PEERS)
        assert not stops(study, {1: 0.4, 2: 0.795, 3: 0.6})
        assert stops(study, {1: 0.4, 2: 0.791, 3: 0.6})
        exact = study_of(MedianStoppingPruner(tolerance=0), "maximize", *self.PEERS)
        assert stops(exact, {1: 0.4, 2: 0.795, 3: 0.6})  # Optuna's own rule: any shortfall stops
        wide = study_of(MedianStoppingPruner(tolerance=0.1), "maximize", *self.PEERS)
        assert not stops(wide, {1: 0.4, 2: 0.73, 3: 0.6})  # 0.8 - 0.08 = 0.72

    def test_the_margin_scales_with_the_median_for_either_direction_and_sign(self) -> None:
        # Losses at step 2 of five completed peers: median 1.5; 1% of it is 0.015: stopped above 1.515.
        losses = ({2: 1.0}, {2: 0.6}, {2: 2.0}, {2: 1.5}, {2: 3.0})
        study = study_of(MedianStoppingPruner(), "minimize", *losses)
        assert not stops(study, {1: 1.6, 2: 1.51})
        assert stops(study, {1: 1.6, 2: 1.52})
        # A negative metric to maximize (a log-likelihood): median -2.0, margin |-2.0| x 1% = 0.02.
        likelihoods = ({2: -1.0}, {2: -1.5}, {2: -2.0}, {2: -2.5}, {2: -3.0})
        study = study_of(MedianStoppingPruner(), "maximize", *likelihoods)
        assert not stops(study, {2: -2.01})
        assert stops(study, {2: -2.03})

    @pytest.mark.parametrize("tolerance", [-0.01, 1.0, math.nan, True, "0.01"])
    def test_bad_tolerance_refused(self, tolerance: object) -> None:
        with pytest.raises(ValueError, match=f"tolerance must be a number from 0 to below 1, got {tolerance!r}"):
            MedianStoppingPruner(tolerance=tolerance)  # type: ignore[arg-type]

    def test_describe_shows_the_margin(self) -> None:
        described = MedianStoppingPruner(delay_evaluation=2).describe()
        assert described == {
            "policy": "median",
            "evaluation_interval": 1,
            "delay_evaluation": 2,
            "min_completed": 3,
            "tolerance": 0.01,
        }


# --------------------------------------------------------------------------- truncation


class TestTruncation:
    def test_lowest_percentage_at_the_step(self) -> None:
        # Step 2: peers 0.9, 0.8, 0.7 and the trial: 4 trials, 25% -> floor(4 * 0.25) = 1 is cut.
        study = study_of(
            TruncationPruner(25), "maximize", {1: 0.5, 2: 0.9}, {1: 0.5, 2: 0.8}, {1: 0.5, 2: 0.7, 3: 0.99}
        )
        assert stops(study, {1: 0.5, 2: 0.6})  # lowest of 4
        assert not stops(study, {1: 0.5, 2: 0.75})  # second lowest: 0.7 is below it

    def test_ties_do_not_count_against_the_trial(self) -> None:
        # 0.7 ties the lowest peer: two trials at or below 0.7, more than the 1 that is cut.
        study = study_of(TruncationPruner(25), "maximize", {2: 0.9}, {2: 0.8}, {2: 0.7})
        assert not stops(study, {2: 0.7})

    def test_too_few_trials_to_cut_any(self) -> None:
        # 4 trials at 20%: floor(0.8) = 0 cut.
        study = study_of(TruncationPruner(20), "maximize", {1: 0.9}, {1: 0.8}, {1: 0.7})
        assert not stops(study, {1: 0.0})

    def test_minimize(self) -> None:
        # Losses at step 1: 0.2, 0.3, 0.4 and the trial; 50% of 4 = 2 cut: the two highest losses.
        study = study_of(TruncationPruner(50), "minimize", {1: 0.2}, {1: 0.3}, {1: 0.4})
        assert stops(study, {1: 0.5})  # highest
        assert stops(study, {1: 0.35})  # 0.35 and 0.4 are the two worst
        assert not stops(study, {1: 0.25})  # 0.25, 0.3, 0.4 at or above it: 3 > 2

    def test_uses_the_peers_values_at_the_same_step(self) -> None:
        # At step 1 the peers had 0.1, 0.2, 0.3 (later 0.9+): a young trial at 0.25 is judged on step 1.
        peers = [{1: 0.1, 2: 0.9}, {1: 0.2, 2: 0.95}, {1: 0.3, 2: 0.99}]
        study = study_of(TruncationPruner(25), "maximize", *peers)
        assert not stops(study, {1: 0.25})
        assert stops(study, {1: 0.05})

    def test_interval_and_delay(self) -> None:
        peers = [{s: 0.9 for s in range(1, 5)}] * 3
        study = study_of(TruncationPruner(25, evaluation_interval=2, delay_evaluation=3), "maximize", *peers)
        assert not stops(study, {1: 0.1, 2: 0.1})  # before the delay
        assert not stops(study, {1: 0.1, 2: 0.1, 3: 0.1})  # not a multiple of 2
        assert stops(study, {1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1})

    def test_bad_percentage_refused(self) -> None:
        with pytest.raises(ValueError, match="truncation_percentage must be an integer from 1 to 99, got 100"):
            TruncationPruner(100)


# --------------------------------------------------------------------------- from the config


def pruner_for(early_stopping: dict, **tuning) -> optuna.pruners.BasePruner:
    overrides = {"tuning.early_stopping": early_stopping} | {f"tuning.{k}": v for k, v in tuning.items()}
    return build_pruner(make_config(overrides))


class TestFromConfig:
    def test_policies(self) -> None:
        bandit = pruner_for({"policy": "bandit", "slack_amount": 0.02, "evaluation_interval": 2, "delay_evaluation": 4})
        assert isinstance(bandit, BanditPruner)
        assert (bandit.slack_amount, bandit.slack_factor, bandit.evaluation_interval, bandit.delay_evaluation) == (
            0.02,
            None,
            2,
            4,
        )
        truncation = pruner_for({"policy": "truncation", "truncation_percentage": 30})
        assert isinstance(truncation, TruncationPruner) and truncation.truncation_percentage == 30
        assert pruner_for({"policy": "truncation"}).truncation_percentage == 10  # type: ignore[attr-defined]
        assert isinstance(pruner_for({"policy": "median"}), MedianStoppingPruner)
        assert isinstance(pruner_for({"policy": "off"}), optuna.pruners.NopPruner)

    def test_auto_is_median_with_delay_5_unless_a_delay_is_given(self) -> None:
        auto = pruner_for({"policy": "auto"})
        assert isinstance(auto, MedianStoppingPruner) and auto.delay_evaluation == 5
        assert pruner_for({"policy": "auto", "delay_evaluation": 2}).delay_evaluation == 2  # type: ignore[attr-defined]

    def test_asha_promotes_the_top_fraction_of_a_rung(self) -> None:
        asha = pruner_for({"policy": "asha", "min_resource": 2, "reduction_factor": 2})
        assert isinstance(asha, optuna.pruners.SuccessiveHalvingPruner)
        # Rung 0 is at step 2 (min_resource). Peers recorded 0.9, 0.8, 0.7 there; with the trial that is 4
        # and reduction factor 2 keeps the top floor(4 / 2) = 2: 0.85 is second (kept), 0.75 third (stopped).
        study = optuna.create_study(direction="maximize", pruner=asha)
        for value in (0.9, 0.8, 0.7):
            study.add_trial(
                create_trial(value=value, intermediate_values={2: value}, system_attrs={"completed_rung_0": value})
            )
        assert not stops(study, {1: 0.1})  # step 1: before the first rung
        assert not stops(study, {1: 0.1, 2: 0.85})
        assert stops(study, {1: 0.1, 2: 0.75})

    def test_hyperband_strategy_uses_optunas_hyperband(self) -> None:
        hyperband = pruner_for({"policy": "off"}, strategy="Hyperband", hyperband={"min_resource": 2})
        assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
        assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (2, 5, 3)
