"""Talking to AWS for real: sessions from the default chain or a prefect-aws block, clients that
retry adaptively under throttling, and AWS failures turned into hpo-flow errors with one clear line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hpo_flow.adapters.errors import BackendError, CredentialsError, HpoFlowError
from hpo_flow.adapters.redact import redact_text

# Adaptive mode adds client-side rate limiting on top of standard retries: a throttled DescribeX
# slows this client down instead of failing the poll.
RETRIES = {"mode": "adaptive", "max_attempts": 10}

NO_CREDENTIALS = (
    "no AWS credentials found: configure the default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, SSO via `aws sso login`, or an instance/task role), or name a prefect-aws "
    "AwsCredentials block in backends.sagemaker.credentials_block"
)
NO_REGION = "no AWS region: set backends.sagemaker.region (e.g. us-east-1) or AWS_REGION / AWS_DEFAULT_REGION"

_CREDENTIAL_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
}
_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12,}\b")


def boto_session(region: str | None, credentials_block: str | None = None) -> Any:
    """A boto3 session with usable credentials and a region, or a CredentialsError saying what to set."""
    import boto3

    with aws_errors("loading AWS credentials"):
        if credentials_block:
            session = _block_session(credentials_block, region)
        else:
            session = boto3.Session(region_name=region) if region else boto3.Session()
        if session.region_name is None:
            raise CredentialsError(NO_REGION)
        if session.get_credentials() is None:
            raise CredentialsError(NO_CREDENTIALS)
    return session


def default_region() -> str | None:
    """The region the default AWS configuration names (environment or config file); no network."""
    import boto3

    try:
        return boto3.Session().region_name
    except Exception:  # a broken profile: plan falls back to asking for backends.sagemaker.region
        return None


def client(session: Any, service: str = "sagemaker") -> Any:
    from botocore.config import Config

    return session.client(service, config=Config(retries=RETRIES, connect_timeout=10, read_timeout=60))


def _block_session(name: str, region: str | None = None) -> Any:
    """The block's boto3 session; the config's region, when it names one, wins over the block's."""
    try:
        from prefect_aws import AwsCredentials  # type: ignore[import-not-found]
    except ImportError:
        raise CredentialsError(
            f"backends.sagemaker.credentials_block is {name!r}, but prefect-aws is not installed: "
            "`pip install prefect-aws`, or remove credentials_block to use the default AWS credential chain"
        ) from None
    try:
        block = AwsCredentials.load(name, _sync=True)
    except ValueError as exc:
        raise CredentialsError(
            f"no prefect-aws AwsCredentials block named {name!r} ({safe_text(str(exc))}); create it in the "
            "Prefect UI or with AwsCredentials(...).save(name), or fix backends.sagemaker.credentials_block"
        ) from None
    if region:
        block.region_name = region  # a public field of the block, which builds the session from it
    return block.get_boto3_session()


def safe_text(text: str) -> str:
    """An AWS message without access key ids or URL passwords in it."""
    return _ACCESS_KEY.sub("***", redact_text(text))


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn AWS failures into CredentialsError/BackendError with one line that says what went wrong."""
    from botocore import exceptions as bx

    try:
        yield
    except HpoFlowError:
        raise
    except bx.ClientError as exc:
        code = error_code(exc)
        message = safe_text(str(exc.response.get("Error", {}).get("Message", "")))
        text = f"AWS refused {doing}: {code}: {message}"
        if code in _CREDENTIAL_CODES:
            raise CredentialsError(
                f"{text} (check the AWS credentials in use and that they may call SageMaker)"
            ) from None
        if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
            raise BackendError(f"{text} (still throttled after adaptive retries; poll less often)") from None
        raise BackendError(text) from None
    except (
        bx.NoCredentialsError,
        bx.PartialCredentialsError,
        bx.CredentialRetrievalError,
        bx.TokenRetrievalError,
        bx.SSOError,
        bx.ProfileNotFound,
        bx.InvalidConfigError,
    ) as exc:
        raise CredentialsError(f"{NO_CREDENTIALS} ({safe_text(str(exc))})") from None
    except bx.NoRegionError:
        raise CredentialsError(NO_REGION) from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        raise BackendError(f"cannot reach AWS while {doing}: {safe_text(str(exc))}") from None
    except bx.BotoCoreError as exc:
        raise BackendError(f"AWS call failed while {doing}: {safe_text(str(exc))}") from None
    except Exception as exc:
        kind = type(exc).__name__
        if kind == "RoleValidationError":  # the SDK's IAM check of the execution role
            raise CredentialsError(f"the execution role cannot be used: {safe_text(str(exc))}") from None
        if kind == "S3UploadFailedError":  # boto3's upload_file wraps the S3 error in its own
            text = safe_text(str(exc))
            if "AccessDenied" in text:
                raise CredentialsError(f"uploading the code was denied while {doing}: {text}") from None
            raise BackendError(f"uploading the code failed while {doing}: {text}") from None
        raise
