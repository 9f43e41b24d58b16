"""docs/sagemaker.md's least-privilege IAM policy, held to what a run really calls.

A whole sweep's life on moto's server and the served tuning service (submit with the code upload,
polls, the best trial's model fetched for registration, a trial's log from CloudWatch, a cancel, a
re-attach), every AWS request recorded as it leaves botocore. Each must be allowed by the documented
policy, and each action the policy names must be one AWS has (an operation in botocore's model of its
service, or one of the few IAM actions that are not operations, listed here with the reason).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.sagemaker.conftest import SDK_NOISE, new_session, sm_config
from tests.sagemaker.served import ServedSageMaker, model_archive

pytestmark = [pytest.mark.integration, *SDK_NOISE]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sagemaker.md"
# IAM actions that are no API operation of their own: (action, why a run needs it).
NOT_OPERATIONS = {
    "iam:PassRole": "CreateHyperParameterTuningJob hands the execution role to SageMaker",
    "s3:ListBucket": "authorizes ListObjects/ListObjectsV2 and a HeadObject of a missing key",
}
# Operations authorized by an action of another name (AWS's S3 and CloudWatch Logs docs).
AUTHORIZED_BY = {
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
}
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}  # AWS answers it for any signed request


def documented_policy() -> dict[str, Any]:
    """The JSON block under "## IAM permissions" in docs/sagemaker.md."""
    text = DOCS.read_text()
    section = text.split("## IAM permissions", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert block, "docs/sagemaker.md: no ```json policy under ## IAM permissions"
    return json.loads(block.group(1))


def documented_actions() -> set[str]:
    actions: set[str] = set()
    for statement in documented_policy()["Statement"]:
        assert statement["Effect"] == "Allow"
        found = statement["Action"]
        actions |= {found} if isinstance(found, str) else set(found)
    return actions


def test_every_documented_action_exists() -> None:
    import botocore.session

    session = botocore.session.get_session()
    prefixes = {"sagemaker": "sagemaker", "s3": "s3", "logs": "logs", "iam": "iam", "kms": "kms"}
    for action in sorted(documented_actions()):
        prefix, _, name = action.partition(":")
        assert "*" not in name, f"{action}: least privilege names each action"
        if action in NOT_OPERATIONS:
            continue
        model = session.get_service_model(prefixes[prefix])
        assert name in model.operation_names, f"{action} is no {prefix} operation"


def test_a_whole_run_calls_nothing_the_policy_does_not_allow(
    served: ServedSageMaker, code_dir: Path, tmp_path: Path
) -> None:
    from hpo_flow.adapters.port import best_trial
    from hpo_flow.adapters.sagemaker import SageMakerAdapter

    called: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        called.add(f"{model.service_model.signing_name}:{model.name}")

    def factory(region: str | None, block: str | None) -> Any:
        session = new_session(region)
        served.attach(session)
        session.events.register("before-call.*.*", record)
        return session

    served.write_logs = True
    served.model_archive = model_archive({"model.joblib": b"weights"})
    spec = sm_config(code_dir)
    adapter = SageMakerAdapter(factory)
    ref = adapter.submit(spec)
    served.advance(60 * 12)
    state = adapter.poll(ref)
    ended = next(t for t in state.trials if t.status.is_terminal)
    assert adapter.trial_log(ref, ended) is not None
    adapter.cancel(ref)
    served.finish(ref.name)
    state = SageMakerAdapter(factory).poll(ref)  # another process's adapter
    best = best_trial(state.trials, spec.objective)
    assert best is not None and adapter.fetch_model(spec, best, tmp_path / "model")
    assert SageMakerAdapter(factory).submit(spec) == ref  # re-attach: ListTags and DescribeHyperParameterTuningJob

    allowed = documented_actions()
    needed = {AUTHORIZED_BY.get(op, op) for op in called} - NEEDS_NO_PERMISSION
    assert needed <= allowed, f"called but not in the policy: {sorted(needed - allowed)}"
