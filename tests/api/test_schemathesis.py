"""Schemathesis against a live server's `/openapi.json`, signed in as a nurse.

Every operation gets a bounded number of generated requests (examples, coverage and
fuzzing phases); no answer may be a 5xx, a status the OpenAPI does not document, or a body
that breaks its schema. The live stream never ends, so it is left out (its own tests
cover it); so is sign-out, which would revoke the token the run signs in with.

Pytest collects one test per operation before any server runs, so the schema is taken
from the app object the server is built from; the first test checks that the live
server's `/openapi.json` is exactly that document.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from daycase.api.app import create_app
from daycase.config import Settings
from tests.api.wire import Api, case_body, shared_api
from tests.support.databases import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    running = shared_api(request, tmp_path_factory)
    # A case of the day, so list and board reads have something to show.
    assert running.as_("nurse").post("/api/v1/cases", json=case_body()).status_code == 201
    return running


@pytest.fixture(scope="module")
def nurse_headers(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.server.token('nurse')}"}


OPENAPI = create_app(Settings(db="sqlite://")).openapi()
REFUSAL = {"$ref": "#/components/schemas/RefusalOut"}


def test_the_live_openapi_is_the_one_tested(api: Api) -> None:
    r = api.anonymous.get("/openapi.json")
    assert r.status_code == 200
    assert r.json() == OPENAPI


def test_every_operation_documents_its_refusals() -> None:
    """401 and 422 everywhere, 413 wherever a body is sent, each in the refusal shape."""
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"401", "422"} <= statuses, (method, path)
            if method == "post":
                assert "413" in statuses, (method, path)
            for status in statuses - {"200", "201", "204"}:
                content = operation["responses"][status]["content"]
                if path.split("/")[1] == "fhir" and "application/fhir+json" in content:
                    continue  # FHIR's own refusal: an OperationOutcome (docs/fhir.md)
                assert content["application/json"]["schema"] == REFUSAL, (method, path, status)


schema = (
    schemathesis.openapi.from_dict(OPENAPI)
    .exclude(path="/api/v1/stream")
    .exclude(path="/api/v1/auth/logout")
)


def call_and_validate(case: Case[Any], api: Api, headers: dict[str, str]) -> None:
    # Not `positive_data_acceptance`: a schema-valid body may still be refused with 422 by
    # the pathway (a time outside the clinical window, a step's own fields), by design.
    case.call_and_validate(
        base_url=api.server.url, headers=headers, excluded_checks=[positive_data_acceptance]
    )


@schema.exclude(path="/api/v1/auth/token").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_openapi_promises(
    case: Case[Any], api: Api, nurse_headers: dict[str, str]
) -> None:
    call_and_validate(case, api, nurse_headers)


@schema.include(path="/api/v1/auth/token").parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_sign_in_keeps_its_openapi_promises(
    case: Case[Any], api: Api, nurse_headers: dict[str, str]
) -> None:
    """Fewer examples: every sign-in that reaches a password check costs an argon2 hash."""
    call_and_validate(case, api, nurse_headers)
