"""The pieces of ``migrator check``: findings, and harmless probes of the permissions a job needs.

A probe is a real call that changes nothing: a read (DescribeTable, Scan with Limit 1), or a write
made invalid on purpose (a CreateTable whose key is not among its attributes, a BatchWriteItem whose
key is not the table's). AWS authorizes a request before it validates it, so an invalid request
answers ``AccessDeniedException`` when the action is not allowed and ``ValidationException`` when it
is; either way nothing is written. Each backend lists its probes (``preflight`` in ``sources/`` and
``targets/``); :mod:`migrator.jobs.check` runs them beside the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from . import clients

#: Answers that mean "you may do this" (the probe was invalid or aimed at nothing, on purpose).
ALLOWED_CODES = frozenset({
    "ValidationException", "ResourceNotFoundException", "ResourceNotFound", "ConditionalCheckFailedException",
    "ResourceInUseException", "TrimmedDataAccessException", "ExpiredIteratorException", "TableNotFoundException",
    "PointInTimeRecoveryUnavailableException", "ContinuousBackupsUnavailableException",
})
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "UnauthorizedException",
                          "AuthorizationErrorException"})
REJECTED_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch",
    "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId", "MissingAuthenticationToken",
    "MissingAuthenticationTokenException", "IncompleteSignatureException",
})
POLICY_HINT = "`migrator policy --config FILE` prints the IAM policy this job needs"

#: botocore's names of the credential providers, as a user would say them.
CHAINS = {
    "env": "the environment (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "config-file": "the AWS config file (~/.aws/config)",
    "assume-role": "a role assumed from a profile",
    "assume-role-with-web-identity": "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, EKS IRSA)",
    "sso": "AWS IAM Identity Center (SSO)",
    "custom-process": "a credential_process of the AWS config file",
    "container-role": "the container's role (ECS or EKS Pod Identity)",
    "iam-role": "the instance profile (EC2 instance metadata)",
    "boto-config": "the boto config file",
    "explicit": "the configuration file",
}


@dataclass(frozen=True)
class Finding:
    """One fact ``check`` found: ``ok`` false means the migration cannot start until it is fixed."""

    ok: bool
    subject: str
    text: str
    #: A doubt rather than a fault (a probe's answer that proves nothing): shown, does not stop the run.
    warning: bool = False

    def line(self) -> str:
        mark = "ok     " if self.ok and not self.warning else "WARNING" if self.ok else "PROBLEM"
        return f"  {mark} {self.subject:<8} {self.text}"


def error_code(exc: BaseException) -> str | None:
    """:func:`migrator.clients.error_code`, also read from an XML error body under a JSON protocol, where
    botocore leaves the HTTP status as the code (moto's IAM answers so)."""
    code = clients.error_code(exc)
    if code is not None and not str(code).isdigit():
        return code
    found = re.search(r"<Code>(\w+)</Code>", _raw_message(exc))
    return found.group(1) if found else code


def _raw_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Message", "")) if isinstance(response, dict) else str(exc)


def error_message(exc: BaseException) -> str:
    message = _raw_message(exc)
    found = re.search(r"<Message>(.*?)</Message>", message, re.S)
    return (found.group(1) if found else message).strip() or str(exc)


def outcome(exc: BaseException | None) -> str:
    """``allowed``, ``denied``, ``rejected`` (credentials), ``unreachable``, ``no-credentials``,
    ``unsupported`` (the endpoint lacks the operation) or ``unknown``."""
    if exc is None:
        return "allowed"
    from botocore import exceptions as bex

    if isinstance(exc, bex.NoCredentialsError):
        return "no-credentials"
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError)):
        return "unreachable"
    code = error_code(exc)
    if code in ALLOWED_CODES:
        return "allowed"
    if code in DENIED_CODES:
        return "denied"
    if code in REJECTED_CODES:
        return "rejected"
    if code == "UnknownOperationException":
        return "unsupported"
    return "unknown"


@dataclass
class Prober:
    """Runs one side's probes in turn; after an unreachable endpoint or refused credentials the rest are
    skipped (each would fail the same way, and the first finding says what to fix)."""

    subject: str
    where: str
    findings: list[Finding] = field(default_factory=list)
    stopped: bool = False
    #: The last probe answered that its resource does not exist (an action allowed on nothing yet).
    missing: bool = False

    def ok(self, text: str) -> None:
        self.findings.append(Finding(True, self.subject, text))

    def problem(self, text: str) -> None:
        self.findings.append(Finding(False, self.subject, text))

    def warn(self, text: str) -> None:
        self.findings.append(Finding(True, self.subject, text, warning=True))

    def probe(self, action: str, resource: str, call: Callable[[], Any], why: str = "",
              on_missing: str | None = None) -> Any:
        """Make ``call`` (a harmless use of ``action``) and record what its answer says; the answer, or
        None when the call failed. ``on_missing``: the problem when it answers ResourceNotFound."""
        if self.stopped:
            return None
        try:
            answer, exc = call(), None
        except Exception as error:  # noqa: BLE001 - every answer is classified
            answer, exc = None, error
        kind = outcome(exc)
        self.missing = kind == "allowed" and error_code(exc) in ("ResourceNotFoundException", "ResourceNotFound")
        purpose = f" ({why})" if why else ""
        if kind == "allowed":
            if on_missing and self.missing:
                self.problem(on_missing)
            else:
                self.ok(f"{action} on {resource}{purpose}")
            return answer
        if kind == "denied":
            self.problem(f"{action} on {resource} is denied{purpose}: {error_message(exc)}. Allow it ({POLICY_HINT})")
        elif kind == "rejected":
            self.problem(f"{self.where} refuses the credentials ({error_code(exc)}: {error_message(exc)}); set "
                         f"{self.subject}.credentials or fix the environment's credentials")
            self.stopped = True
        elif kind == "unreachable":
            self.problem(f"cannot reach {self.where} ({exc}); check {self.subject}.endpoint / {self.subject}.region "
                         "and the network")
            self.stopped = True
        elif kind == "no-credentials":
            self.problem(f"no AWS credentials for {self.where}: set {self.subject}.credentials, or AWS_PROFILE, or "
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role is attached")
            self.stopped = True
        elif kind == "unsupported":
            self.warn(f"{self.where} has no {action}{purpose}; not checked")
        else:
            self.warn(f"{action} on {resource}{purpose}: could not tell whether it is allowed "
                      f"({error_code(exc) or type(exc).__name__}: {error_message(exc)[:200]})")
        return None


def credentials_finding(prober: Prober, client_spec: Any) -> None:
    """Record which credentials a side uses and where they came from; on AWS itself (no endpoint), STS
    names the principal. Secrets are never shown."""
    from botocore import exceptions as bex

    session = client_spec.session()
    try:
        credentials = session.get_credentials()
    except bex.BotoCoreError as exc:
        prober.problem(f"the credentials for {prober.where} cannot be loaded: {exc}")
        prober.stopped = True
        return
    if credentials is None:
        prober.probe("credentials", prober.where, _raise_no_credentials)
        return
    if client_spec.role_arn:
        chain = f"role {client_spec.role_arn} assumed from " + (
            f"{prober.subject}.credentials" if client_spec.access_key else "the default credential chain")
    elif client_spec.access_key:
        chain = f"{prober.subject}.credentials"
    else:
        chain = CHAINS.get(credentials.method, credentials.method or "the default credential chain")
    text = f"credentials from {chain}"
    if client_spec.endpoint_url is None:
        identity = prober.probe("sts:GetCallerIdentity", "the credentials",
                                lambda: client_spec.client("sts", retries=2).get_caller_identity())
        if identity is None:
            return
        text += f", as {identity['Arn']}"
    prober.ok(text)


def _raise_no_credentials() -> None:
    from botocore.exceptions import NoCredentialsError

    raise NoCredentialsError()


def location_finding(subject: str, setting: str, path: str) -> Finding:
    """Whether the job can make files under ``path`` (``setting`` names it in the configuration)."""
    from .storage import check_writable

    try:
        state = check_writable(path)
    except OSError as exc:
        return Finding(False, subject, f"{setting}: {path}: {exc.strerror or exc}; choose a location this job can write")
    return Finding(True, subject, f"{setting}: {path} ({state})")
