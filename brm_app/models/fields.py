"""Validated field types shared by every input schema (API bodies, browser forms, CSV rows).

Each turns untrusted text into the stored form or fails with a message meant for the user:
LEI (ISO 17442 with its check digits), phone (E.164), country (ISO 3166-1 alpha-2),
email, website.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema

_LEI_RE = re.compile(r"^[0-9A-Z]{18}[0-9]{2}$")


MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns on PostgreSQL


# C0 controls but tab and line breaks, DEL and the C1 controls: never wanted in stored text
# (and PostgreSQL text cannot hold NUL at all).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Halves of a UTF-16 pair alone (JSON can escape them: "\ud800"): no encoding can store them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# In names, also what cannot be seen or turns the text around: zero-width space, word joiner,
# zero-width no-break space (BOM), the bidi embeddings and overrides (U+202A-U+202E) and
# isolates (U+2066-U+2069). Zero-width non-joiner and joiner (U+200C, U+200D) stay: Persian and
# Indic names need them.
_INVISIBLE = re.compile(r"[\u200b\u2060\ufeff\u202a-\u202e\u2066-\u2069]")


def check_text(value: str) -> str:
    """The check every text input passes (body fields, query and path parameters, browser
    events, CSV cells): no control characters but tab and line breaks, no lone surrogates."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    if _SURROGATE.search(value):
        raise ValueError("must not contain invalid characters (unpaired surrogates)")
    return value


def check_optional_text(value: str | None) -> str | None:
    return None if value is None else check_text(value)


def check_name(value: str) -> str:
    """Names (people, firms, roles, types, outcomes): the text checks, on one line, and nothing
    invisible or direction-changing that could make two names look alike or hide what they say."""
    check_text(value)
    if any(ch in value for ch in "\t\n\r"):
        raise ValueError("must be on one line (no tabs or line breaks)")
    if _INVISIBLE.search(value):
        raise ValueError(
            "must not contain invisible or text-direction characters "
            "(zero-width spaces, word joiners, bidi controls)"
        )
    return value


def _blank_to_none(value: object) -> object:
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def lei_checksum_ok(lei: str) -> bool:
    """ISO 17442 check digits: ISO 7064 MOD 97-10 over the whole code must leave 1."""
    digits = "".join(str(int(ch, 36)) for ch in lei)
    return int(digits) % 97 == 1


def check_lei(value: str) -> str:
    lei = value.strip().upper()
    if not _LEI_RE.match(lei):
        raise ValueError("must be 20 characters: 18 letters or digits and 2 check digits")
    if not lei_checksum_ok(lei):
        raise ValueError("is not a valid LEI (the check digits do not match)")
    return lei


def check_phone(value: str) -> str:
    text = value.strip()
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "must be an international number starting with + and the country code"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_mobile(value: str) -> str:
    """A mobile number (SMS go only there): E.164, and a mobile line where the numbering plan says."""
    e164 = check_phone(value)
    kind = phonenumbers.number_type(phonenumbers.parse(e164, None))
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValueError("is not a mobile number (SMS go only to mobile numbers)")
    return e164


def phone_display(e164: str | None) -> str:
    """+442079460958 -> +44 20 7946 0958 (for reading; storage stays E.164)."""
    if not e164:
        return ""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


def check_country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 3166 two-letter country code, like GB or US")
    return code


def check_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address ({exc})") from None


_WEBSITE_RE = re.compile(r"^https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:\d{1,5})?(/[^\s]*)?$")


def check_website(value: str) -> str:
    url = value.strip()
    if "://" not in url:
        url = "https://" + url
    if not _WEBSITE_RE.match(url):
        raise ValueError("is not a valid web address")
    return url


def country_name(code: str | None) -> str:
    if not code:
        return ""
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country else code


def country_choices() -> list[tuple[str, str]]:
    return sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda c: c[1])


def _optional(max_length: int, check=None) -> object:
    """Optional text: blank becomes None; otherwise trimmed, at most max_length, then checked."""
    inner = Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=max_length),
        AfterValidator(check_text),
    ]
    if check is not None:
        inner = Annotated[inner, AfterValidator(check)]
    return Annotated[inner | None, BeforeValidator(_blank_to_none)]


def optional_text(max_length: int) -> object:
    return _optional(max_length)


LEI = _optional(40, check_lei)
Phone = _optional(40, check_phone)
# Spelled out (not through _optional) so type checkers see a type.
Mobile = Annotated[
    Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=40),
        AfterValidator(check_text),
        AfterValidator(check_mobile),
    ]
    | None,
    BeforeValidator(_blank_to_none),
]
Country = _optional(10, check_country)
OptionalEmail = _optional(254, check_email)
Website = _optional(300, check_website)
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=254),
    AfterValidator(check_text),
    AfterValidator(check_email),
]


def text(min_length: int = 0, max_length: int = 200) -> object:
    """Required text: trimmed, bounded, no control characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(check_text),
    ]


def name_text(max_length: int, min_length: int = 1) -> object:
    """A required name: trimmed, bounded, the text checks and the name checks."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(check_name),
    ]


RecordId = Annotated[int, Field(gt=0, le=MAX_ID)]


def check_moment(value: datetime) -> datetime:
    """Dates of this world: years 1900 to 2999 (so time-zone arithmetic can never overflow)."""
    if not 1900 <= value.year <= 2999:
        raise ValueError("must be between the years 1900 and 2999")
    return value


# The same years as text, for the OpenAPI document's `pattern`s (and checked before parsing, so
# that a number is never read as a Unix timestamp): ISO 8601 / RFC 3339, seconds optional.
YEARS = r"(19[0-9]{2}|2[0-9]{3})"
# (Months, days and hours spelled out, so that a client generating from the pattern mostly gets
# real dates: Schemathesis gave up on `[0-9]{2}` months, too many of its draws were not dates.)
_DAY = rf"{YEARS}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
DAY_PATTERN = rf"^{_DAY}$"
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
_OFFSET = r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
# RFC 3339 (`format: date-time`): seconds and an offset.
MOMENT_PATTERN = rf"^{_DAY}[Tt]{_CLOCK}{_OFFSET}$"
# Bodies also take a time without an offset (read in `time_zone`), so no `format` there.
LOCAL_MOMENT_PATTERN = rf"^{_DAY}[Tt ]{_CLOCK}{_OFFSET}?$"


def iso_text(pattern: str, example: str) -> BeforeValidator:
    """A before-validator: text matching `pattern` (or an already parsed value), never a number."""
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str):
            if not compiled.match(value):
                raise ValueError(f"must be like {example}, years 1900 to 2999")
        elif isinstance(value, int | float):
            raise ValueError(f"must be text like {example}, not a number")
        return value

    return BeforeValidator(check)


# A calendar day in a body: ISO text with a year from 1900 to 2999, as query days are.
BodyDay = Annotated[
    date,
    iso_text(DAY_PATTERN, "2026-05-04"),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]


Moment = Annotated[
    datetime,
    iso_text(LOCAL_MOMENT_PATTERN, "2026-05-04T09:30:00+01:00"),
    AfterValidator(check_moment),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": LOCAL_MOMENT_PATTERN,
            "description": "ISO 8601 date and time; without an offset it is read in the time zone",
            "examples": ["2026-05-04T09:30:00+01:00"],
        }
    ),
]


def name_key(name: str) -> str:
    """How names compare for uniqueness: case-folded, inner runs of spaces collapsed, trimmed."""
    return " ".join(name.split()).casefold()
