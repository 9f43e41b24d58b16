"""Reaching an Azure ML workspace: which workspace, which credential, and errors people can act on.

Credentials are DefaultAzureCredential (az login, environment variables, managed identity, ...)
or a prefect-azure `AzureMlCredentials` block named in `backends.azure.credentials_block`.
Nothing secret is ever put into a message: only field names, block names and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hpo_flow.adapters.errors import BackendError, CredentialsError, HpoFlowError
from hpo_flow.adapters.redact import redact_text
from hpo_flow.adapters.spec import AzureBackend, HpoConfig

ARM_SCOPE = "https://management.azure.com/.default"
_JOB_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/jobs/(?P<name>[^/]+)$",
    re.I,
)
NO_CREDENTIAL = (
    "no Azure credential could sign in: run `az login`, set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
    "AZURE_CLIENT_SECRET, use a managed identity, or name a prefect-azure AzureMlCredentials block in "
    "backends.azure.credentials_block"
)


@dataclass(frozen=True)
class Workspace:
    subscription_id: str
    resource_group: str
    name: str

    def job_id(self, job: str) -> str:
        """The job's ARM id: what a SweepRef keeps as cloud_id, enough to find the job again."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{self.name}/jobs/{job}"
        )

    def studio_url(self, job: str) -> str:
        return (
            f"https://ml.azure.com/runs/{job}?wsid=/subscriptions/{self.subscription_id}"
            f"/resourcegroups/{self.resource_group}/workspaces/{self.name}"
        )

    @classmethod
    def from_job_id(cls, cloud_id: str) -> tuple[Workspace, str]:
        match = _JOB_ID.match(cloud_id or "")
        if not match:
            raise BackendError(f"not an Azure ML job id: {cloud_id!r}; submit the sweep again to get a valid reference")
        return cls(match["sub"], match["rg"], match["ws"]), match["name"]


def resolve(spec: HpoConfig, credential: Any | None, **credential_kwargs: Any) -> tuple[Workspace, Any]:
    """The workspace and credential for this config; one CredentialsError naming every missing field."""
    azure = spec.backends.azure or AzureBackend()
    fields = {
        "subscription_id": azure.subscription_id,
        "resource_group": azure.resource_group,
        "workspace": azure.workspace,
    }
    if credential is None and azure.credentials_block:
        credential, from_block = block_credential(azure.credentials_block, **credential_kwargs)
        for key, value in from_block.items():
            fields[key] = fields[key] or value
    missing = [f"backends.azure.{key}" for key, value in fields.items() if not value]
    if missing:
        raise CredentialsError(
            f"the Azure ML workspace is not fully named: set {', '.join(missing)} in config.yaml"
            + (" (or in the prefect-azure block)" if azure.credentials_block else "")
        )
    if credential is None:
        credential = default_credential()
    workspace = Workspace(str(fields["subscription_id"]), str(fields["resource_group"]), str(fields["workspace"]))
    return workspace, credential


def default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    # No interactive browser prompt from a flow or a worker: it would hang unattended.
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def check_credential(credential: Any) -> None:
    """Sign in once, before any request, so that a missing login is one clear error, not a trace."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        credential.get_token(ARM_SCOPE)
    except ClientAuthenticationError:
        raise CredentialsError(NO_CREDENTIAL) from None


def block_credential(block_name: str, **credential_kwargs: Any) -> tuple[Any, dict[str, str | None]]:
    """A ClientSecretCredential from a prefect-azure AzureMlCredentials block, and the workspace
    fields the block holds (used where config.yaml leaves them out); `credential_kwargs` go to the
    credential (azure-core's `transport=`, proxies)."""
    try:
        from prefect_azure.credentials import AzureMlCredentials  # type: ignore[import-not-found]
    except ImportError:
        raise CredentialsError(
            f"backends.azure.credentials_block is {block_name!r}, which needs the prefect-azure package: "
            "pip install prefect-azure (or remove credentials_block to use DefaultAzureCredential)"
        ) from None
    name = block_name.split("/", 1)[1] if "/" in block_name else block_name
    try:
        block = AzureMlCredentials.load(name)
    except (ValueError, HpoFlowError) as exc:
        raise CredentialsError(
            f"no prefect-azure AzureMlCredentials block named {name!r} could be loaded ({type(exc).__name__}); "
            "create it with `prefect block register -m prefect_azure` and the Prefect UI, or fix the name"
        ) from None
    if isinstance(block, Coroutine):  # Prefect's load returns an awaitable only when called from async code
        block.close()
        raise CredentialsError(f"the AzureMlCredentials block {name!r} was loaded from async code; load it from sync")
    from azure.identity import ClientSecretCredential

    secret = block.service_principal_password
    credential = ClientSecretCredential(
        tenant_id=block.tenant_id,
        client_id=block.service_principal_id,
        client_secret=secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret,
        **credential_kwargs,
    )
    found = {
        "subscription_id": getattr(block, "subscription_id", None),
        "resource_group": getattr(block, "resource_group", None),
        "workspace": getattr(block, "workspace_name", None),
    }
    return credential, found


def ml_client(workspace: Workspace, credential: Any, **client_kwargs: Any) -> Any:
    from azure.ai.ml import MLClient

    return MLClient(
        credential,
        subscription_id=workspace.subscription_id,
        resource_group_name=workspace.resource_group,
        workspace_name=workspace.name,
        **client_kwargs,
    )


@contextmanager
def service_errors(action: str, on_not_found: Callable[[], None] | None = None) -> Iterator[None]:
    """Turn azure-core and SDK exceptions into hpo-flow errors that say what failed and what to do."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

    try:
        yield
    except HpoFlowError:
        raise
    except ClientAuthenticationError:
        raise CredentialsError(NO_CREDENTIAL) from None
    except ResourceNotFoundError as exc:
        if on_not_found is not None:
            on_not_found()
        raise BackendError(f"Azure ML could not {action}: not found ({_reason(exc)})") from exc
    except HttpResponseError as exc:
        if exc.status_code in (401, 403):
            raise CredentialsError(
                f"Azure ML refused to {action} (HTTP {exc.status_code}): the signed-in identity needs a role such "
                "as AzureML Data Scientist on the workspace"
            ) from None
        raise BackendError(f"Azure ML could not {action}: HTTP {exc.status_code} {_reason(exc)}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("azure.ai.ml", "marshmallow")):
            raise BackendError(f"azure-ai-ml could not {action}: {redact_text(str(exc))[:2000]}") from exc
        raise


def _reason(exc: Any) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
    text = f"{code}: {message}" if code else str(message)
    return redact_text(text)[:500]
