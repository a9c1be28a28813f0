"""Password policy and hashing."""

import pytest

from brm_app.auth.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordPolicyError,
    check_policy,
    generate_password,
    hash_password,
    verify_password,
)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("a" * (MIN_LENGTH - 1), "at least 12"),
        ("b" * (MAX_LENGTH + 1), "at most 128"),
        (" " * 20, "only spaces"),
        ("password1234", "too common"),
        ("Someone@Example.com", "email"),
        (12345678901234, "text"),
        (None, "text"),
        ("abc\x00defghijklm", "NUL"),
        # No hash can take a lone surrogate (once a UnicodeEncodeError, not a policy message).
        ("abc\ud800defghijklm", "invalid characters"),
    ],
)
def test_policy_rejects_with_a_clear_message(password, message):
    with pytest.raises(PasswordPolicyError, match=message):
        check_policy(password, email="someone@example.com")


@pytest.mark.parametrize("length", [MIN_LENGTH, 40, MAX_LENGTH])
def test_policy_accepts_lengths_from_12_to_128(length):
    password = ("Tr0ub4dor&3-" * 20)[:length]
    assert check_policy(password, email="x@example.com") == password


def test_policy_accepts_any_unicode_and_spaces_inside():
    assert check_policy("naïve café über 東京 passphrase")


def test_hash_is_argon2id_and_verifies():
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert verify_password("correct horse battery", hashed)
    assert not verify_password("correct horse batterY", hashed)


def test_long_passwords_are_not_truncated():
    # bcrypt would only look at the first 72 bytes: these differ at character 100.
    base = "x" * 99
    hashed = hash_password(base + "A")
    assert verify_password(base + "A", hashed)
    assert not verify_password(base + "B", hashed)
    assert not verify_password(base, hashed)


def test_multibyte_passwords_beyond_72_bytes_differ():
    a = "é" * 60 + "1"  # 121 bytes in UTF-8
    hashed = hash_password(a)
    assert not verify_password("é" * 60 + "2", hashed)


def test_verify_rejects_missing_hash_and_non_text():
    assert not verify_password("whatever-long-enough", None)
    assert not verify_password(None, hash_password("correct horse battery"))  # type: ignore[arg-type]


def test_same_password_hashes_differently_each_time():
    assert hash_password("correct horse battery") != hash_password("correct horse battery")


def test_generated_passwords_meet_the_policy():
    for _ in range(20):
        assert check_policy(generate_password())
