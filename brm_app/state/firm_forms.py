"""Turning the firm and trader forms' flat fields into the services' input schemas, and back.

Forms post flat names (street, phone ...); the schemas nest them (address.street ...). Errors come
back with nested paths and are flattened again so each message sits next to its field.
"""

from __future__ import annotations

from typing import Any

from brm_app.models.firm import FirmPublic
from brm_app.models.trader import TraderPermission, TraderPublic

NONE = "none"  # Radix selects cannot hold an empty value
FIRM_FIELDS = (
    "name",
    "lei",
    "street",
    "city",
    "postal_code",
    "country",
    "phone",
    "email",
    "website",
    "account_status",
    "tier",
    "notes",
    "recording_disclosed_on",
)


def _opt(value: Any) -> Any:
    return None if value in (None, "", NONE) else value


def _id_or_raw(value: Any) -> Any:
    """Form values are strings; digits become ids, anything else goes on to be rejected by validation."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def firm_payload(form: dict[str, Any], *, with_coverage: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": form.get("name", ""),
        "lei": _opt(form.get("lei")),
        "address": {
            "street": _opt(form.get("street")),
            "city": _opt(form.get("city")),
            "postal_code": _opt(form.get("postal_code")),
            "country": _opt(form.get("country")),
        },
        "contact_details": {
            "phone": _opt(form.get("phone")),
            "email": _opt(form.get("email")),
            "website": _opt(form.get("website")),
        },
        "account_status": form.get("account_status") or "Prospect",
        "tier": form.get("tier") or "C",
        "notes": _opt(form.get("notes")),
        "recording_disclosed_on": _opt(form.get("recording_disclosed_on")),
    }
    if with_coverage:
        primary = _opt(form.get("primary_broker_id"))
        payload["primary_broker_id"] = _id_or_raw(primary) if primary is not None else None
        payload["secondary_broker_ids"] = [
            _id_or_raw(key.removeprefix("secondary_"))
            for key, value in form.items()
            if isinstance(key, str)
            and key.startswith("secondary_")
            and value in ("on", True, "true")
        ]
    return payload


def firm_form_values(firm: FirmPublic | None) -> dict[str, str]:
    """The edit form's starting values (strings, as inputs hold them)."""
    if firm is None:
        return {k: "" for k in FIRM_FIELDS} | {
            "country": NONE,
            "account_status": "Prospect",
            "tier": "C",
        }
    return {
        "name": firm.name,
        "lei": firm.lei or "",
        "street": firm.address.street or "",
        "city": firm.address.city or "",
        "postal_code": firm.address.postal_code or "",
        "country": firm.address.country or NONE,
        "phone": firm.contact_details.phone or "",
        "email": firm.contact_details.email or "",
        "website": firm.contact_details.website or "",
        "account_status": firm.account_status.value,
        "tier": firm.tier.value,
        "notes": firm.notes or "",
        "recording_disclosed_on": (
            firm.recording_disclosed_on.isoformat() if firm.recording_disclosed_on else ""
        ),
    }


def trader_payload(form: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": form.get("name", ""),
        "email": form.get("email", ""),
        "phone": _opt(form.get("phone")),
        "mobile": _opt(form.get("mobile")),
        "role": form.get("role") or "Trader",
        "status": form.get("status") or "active",
        "permissions": [
            p.value for p in TraderPermission if form.get(f"perm_{p.value}") in ("on", True, "true")
        ],
    }


def trader_form_values(trader: TraderPublic | None) -> dict[str, Any]:
    if trader is None:
        return {
            "name": "",
            "email": "",
            "phone": "",
            "mobile": "",
            "role": "Trader",
            "status": "active",
            "perms": ["receive_email"],
        }
    return {
        "name": trader.name,
        "email": trader.email,
        "phone": trader.phone or "",
        "mobile": trader.mobile or "",
        "role": trader.role,
        "status": trader.status.value,
        "perms": [p.value for p in trader.permissions],
    }


def flat_errors(errors: dict[str, str]) -> dict[str, str]:
    """{"address.country": m} -> {"country": m}; list items ("secondary_broker_ids.0") keep their list name."""
    out: dict[str, str] = {}
    for key, message in errors.items():
        parts = [p for p in key.split(".") if not p.isdigit()]
        out.setdefault(parts[-1] if parts else "form", message)
    return out


def keep_portal_choice(
    payload: dict[str, Any], *, can_grant: bool, current: list[str]
) -> dict[str, Any]:
    """The portal checkbox is disabled for users who cannot grant portal access, and a disabled
    checkbox posts nothing: keep the trader's current choice instead of reading it as "off"."""
    if can_grant:
        return payload
    perms = [p for p in payload["permissions"] if p != TraderPermission.PORTAL_ACCESS.value]
    if TraderPermission.PORTAL_ACCESS.value in current:
        perms.append(TraderPermission.PORTAL_ACCESS.value)
    return {**payload, "permissions": perms}
