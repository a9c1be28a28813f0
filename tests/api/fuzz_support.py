"""Schemathesis, bounded for CI: what the API fuzz tests share.

A fixed number of examples per operation and mode, no shrinking, derandomized so a run repeats.
Set BRM_FUZZ_EXAMPLES (e.g. 200) and BRM_FUZZ_RANDOM=1 to search harder.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from brm_app.api.app import create_api
from brm_app.auth import tokens
from brm_app.db import unit_of_work
from brm_app.models.user import User
from brm_app.settings import get_settings

EXAMPLES = int(os.environ.get("BRM_FUZZ_EXAMPLES", "15"))
RANDOM = os.environ.get("BRM_FUZZ_RANDOM") == "1"


def bearer(user_id: int) -> dict[str, str]:
    with unit_of_work() as db:
        user = db.get(User, user_id)
        token, _ = tokens.issue(
            user.id,
            cv=tokens.credentials_version(user.credentials_changed_at),
            secret=get_settings().secret_key,
            minutes=30,
        )
    return {"Authorization": f"Bearer {token}"}


def server_errors(
    path_regex: str, headers: dict[str, str], known: dict[str, object], min_operations: int
) -> list[str]:
    """Generate valid and invalid requests for every operation matching path_regex (random ids,
    and the `known` ones that exist); return every answer that was a server error."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_api()).include(
        path_regex=path_regex
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= min_operations, [op.label for op in operations]
    calls, errors = [0], []
    for operation in operations:
        path_params = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
        strategies = [
            operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for fixed in ([None, path_params] if path_params else [None])
        ]

        def case_repr(case) -> str:
            return case.as_curl_command(headers={"Authorization": "Bearer <token>"})[:600]

        @settings(
            max_examples=EXAMPLES * len(strategies),
            deadline=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report, don't minimise
            derandomize=not RANDOM,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def run(case) -> None:
            calls[0] += 1
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the app raised: a real client would get a 500
                errors.append(f"{type(exc).__name__}: {str(exc)[:300]}\n  {case_repr(case)}")
                return
            if response.status_code >= 500:
                errors.append(f"{response.status_code} {response.text[:300]}\n  {case_repr(case)}")

        run()
    assert calls[0] >= len(operations) * EXAMPLES
    return errors
