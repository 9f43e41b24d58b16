"""An AWS session for plan: no network, no credentials, and the SDK none the wiser.

While it builds a tuning job the SDK asks AWS a few questions (whose account is this, does the
default bucket exist, may this role train). Plan answers them here, from the config alone, and
catches the CreateHyperParameterTuningJob call after botocore has validated its parameters
against the service model, so the captured request is exactly what would have gone on the wire.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hpo_flow.adapters.errors import HpoFlowError

CREATE = "CreateHyperParameterTuningJob"

_planning = threading.local()
_SESSIONS: dict[tuple[str, str], OfflineSession] = {}
_LOCK = threading.Lock()  # one plan at a time: an OfflineSession holds the request it captures


class Captured(Exception):
    """Raised at the create call, carrying its parameters: plan stops there, before any network."""

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(CREATE)
        self.request = request


class OfflineSession:
    """A boto3 session whose every call is answered locally; `request` is the captured create call."""

    def __init__(self, region: str, account: str) -> None:
        import boto3
        import botocore.session

        self.region = region
        self.account = account
        self.asked: list[str] = []  # every operation the SDK tried, in order: what plan had to answer
        self._request: dict[str, Any] | None = None
        self._sdk_session: Any = None
        # The machine's AWS profile plays no part (AWS_PROFILE naming a missing profile would even break
        # botocore), and the keys are fixed, obviously fake ones: botocore wants some to build clients,
        # but nothing is ever signed or sent.
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        self.boto_session = boto3.Session(
            botocore_session=core,
            aws_access_key_id="HPOFLOWOFFLINEPLAN00",
            aws_secret_access_key="offline-plan-never-sent",
            region_name=region,
        )
        events = self.boto_session.events
        events.register(f"before-parameter-build.sagemaker.{CREATE}", self._capture)
        events.register("before-call.*.*", self._answer)

    def sdk_session(self) -> Any:
        """The SDK Session over this boto3 session; made once, since making its clients is plan's main cost."""
        if self._sdk_session is None:
            from sagemaker.core.helper.session_helper import Session

            self._sdk_session = Session(boto_session=self.boto_session)
        return self._sdk_session

    @property
    def default_bucket(self) -> str:
        return f"sagemaker-{self.region}-{self.account}"

    def _capture(self, params: dict[str, Any], **_: Any) -> None:
        self._request = copy.deepcopy(params)

    def _answer(self, model: Any, **_: Any) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse

        service, operation = model.service_model.service_name, model.name
        self.asked.append(f"{service}.{operation}")
        if operation == CREATE:
            # botocore has validated the parameters by now (before-call comes after validation).
            assert self._request is not None
            raise Captured(self._request)
        answer = self._answers().get((service, operation))
        if answer is None:
            raise HpoFlowError(
                f"plan works offline, but building this sweep needs {service}:{operation} from AWS; "
                "please report this, with your backends.sagemaker section"
            )
        return AWSResponse("https://offline.invalid", 200, {}, None), answer()

    def _answers(self) -> dict[tuple[str, str], Callable[[], dict[str, Any]]]:
        epoch = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        return {
            # The default bucket is named after the account: plan takes the execution role's account.
            ("sts", "GetCallerIdentity"): lambda: {
                "UserId": "HPOFLOWOFFLINEPLAN",
                "Account": self.account,
                "Arn": f"arn:aws:iam::{self.account}:user/hpo-flow-plan",
            },
            ("s3", "ListBuckets"): lambda: {"Buckets": [{"Name": self.default_bucket, "CreationDate": epoch}]},
            ("s3", "HeadBucket"): lambda: {},
            # Plan does not judge IAM: the SDK treats a denied simulation as "cannot verify" and carries on.
            ("iam", "SimulatePrincipalPolicy"): _denied("SimulatePrincipalPolicy"),
            ("iam", "GetRole"): _denied("GetRole"),
        }


def _denied(operation: str) -> Callable[[], dict[str, Any]]:
    def raise_denied() -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "plan does not call IAM"}, "ResponseMetadata": {}},
            operation,
        )

    return raise_denied


class _QuietWhilePlanning(logging.Filter):
    """Drops the SDK's chatter about IAM checks and config files that plan never made, in this thread only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_planning, "active", False) or record.levelno >= logging.ERROR


_QUIET = _QuietWhilePlanning()


@contextmanager
def planning(region: str, account: str) -> Iterator[OfflineSession]:
    """The offline session for one plan; meanwhile the SDK's loggers drop chatter from this thread."""
    with _LOCK:
        session = _SESSIONS.get((region, account))
        if session is None:
            session = _SESSIONS[(region, account)] = OfflineSession(region, account)
        session.asked.clear()
        session._request = None
        _planning.active = True
        try:
            # Filters go on after the SDK is imported, so that every one of its loggers has one.
            session.sdk_session()
            for name in list(logging.Logger.manager.loggerDict):
                if name == "sagemaker" or name.startswith("sagemaker."):
                    logger = logging.getLogger(name)
                    if _QUIET not in logger.filters:
                        logger.addFilter(_QUIET)
            yield session
        finally:
            _planning.active = False
