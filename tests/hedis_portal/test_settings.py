"""Production settings refuse to start without their secrets and pass `check --deploy`."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "MEMBER_ID_HASH_KEY": secrets.token_urlsafe(32),
    "ALLOWED_HOSTS": "portal.example.org",
    "DATABASE_URL": "sqlite:///:memory:",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "MEMBER_ID_HASH_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_a_secret(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("MEMBER_ID_HASH_KEY", "short", "must be at least 32 characters"),
        ("MEMBER_ID_HASH_KEY", "development-only-member-id-hash-key", "is a published development default"),
        ("MEMBER_ID_HASH_KEY", "a" * 32, "must have at least 16 distinct characters"),
        ("MEMBER_ID_HASH_KEY", "0123456789abcd" * 4, "must have at least 16 distinct characters"),
        (
            "SECRET_KEY",
            "development-only-secret-key-never-use-in-production",
            "is a published development default",
        ),
        ("SECRET_KEY", "django-insecure-" + secrets.token_urlsafe(50), "is a published development default"),
        ("SECRET_KEY", secrets.token_urlsafe(30), "must be at least 50 characters"),
        ("SECRET_KEY", "ab" * 40, "must have at least 16 distinct characters"),
    ],
)
def test_production_refuses_a_weak_secret_and_says_how_to_make_one(name, value, reason):
    result = _manage("check", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    assert f"{name} {reason}" in result.stderr
    assert "secrets.token_urlsafe(" in result.stderr
    assert value not in result.stderr


def test_production_refuses_the_same_key_for_sessions_and_member_ids():
    key = secrets.token_urlsafe(50)
    result = _manage("check", env={**PRODUCTION_ENV, "SECRET_KEY": key, "MEMBER_ID_HASH_KEY": key})
    assert result.returncode != 0
    assert "MEMBER_ID_HASH_KEY must not be the same as SECRET_KEY" in result.stderr


def test_production_settings_pass_check_deploy_without_warnings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_unknown_environment_name_is_refused():
    result = _manage("check", env={"DJANGO_ENV": "prod"})
    assert result.returncode != 0
    assert "DJANGO_ENV must be" in result.stderr


@pytest.mark.parametrize(("threshold", "expected"), [(None, "5"), ("2", "2"), ("", "None")])
def test_postgresql_statements_are_prepared_after_the_threshold_unless_disabled(threshold, expected):
    env = {"DATABASE_URL": "postgres://portal@db.example.org:5432/portal"}
    if threshold is not None:
        env["DB_PREPARE_THRESHOLD"] = threshold
    options = "from django.conf import settings; o = settings.DATABASES['default']['OPTIONS']; "
    result = _manage(
        "shell", "-c", options + "print(o['server_side_binding'], o['prepare_threshold'])", env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["True", expected]
