from __future__ import annotations

import pytest

from unifiedml.errors import (
    CapabilityNotSupported,
    ConfigError,
    MissingDependency,
    OperationFailed,
    ProviderError,
    Throttled,
    UnifiedMLError,
    redact,
)


@pytest.mark.parametrize(
    "text",
    [
        "key AKIAIOSFODNN7EXAMPLE leaked",
        "Authorization: Bearer abcdefghijklmnop1234",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        'password: "hunter2hunter2"',
        "token hf_abcdefghijklmnopqrstuvwxyz012345",
        "https://x.blob.core.windows.net/c/b?sig=AbCdEf1234567890%3D&se=2026",
    ],
)
def test_redact_hides_credentials(text: str) -> None:
    out = redact(text)
    for secret in ("AKIAIOSFODNN7EXAMPLE", "abcdefghijklmnop1234", "wJalrXUtnFEMI", "hunter2hunter2",
                   "hf_abcdefghijklmnopqrstuvwxyz012345", "AbCdEf1234567890"):
        assert secret not in out
    assert "***" in out


def test_error_messages_are_redacted_at_construction() -> None:
    err = ProviderError("call failed with Bearer sk_live_0123456789abcdef", provider="aws")
    assert "sk_live" not in str(err)
    assert str(err).startswith("[aws] ")


def test_config_error_names_the_field_and_keeps_the_hint() -> None:
    err = ConfigError("must be positive", field="resources.instance_count", hint="use 1 or more")
    assert str(err) == "resources.instance_count: must be positive"
    assert err.field == "resources.instance_count"
    assert err.to_dict()["hint"] == "use 1 or more"


def test_missing_dependency_names_the_extra() -> None:
    err = MissingDependency("boto3", extra="aws", provider="sagemaker")
    assert isinstance(err, ConfigError)
    assert err.hint == "pip install 'unifiedml[aws]'"


def test_capability_error_carries_provider_capability_and_reason() -> None:
    err = CapabilityNotSupported("local", "automl", "no search yet")
    assert (err.provider, err.capability, err.reason) == ("local", "automl", "no search yet")
    assert "automl is not supported: no search yet" in str(err)


def test_operation_failed_appends_the_log_tail() -> None:
    err = OperationFailed("job x failed", logs_tail="Traceback...\nValueError: bad")
    assert "ValueError: bad" in str(err)
    assert err.logs_tail.endswith("ValueError: bad")


def test_every_error_is_a_unifiedml_error() -> None:
    import unifiedml.errors as errors

    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, UnifiedMLError)
    assert Throttled("slow down", retry_after=3).retry_after == 3
