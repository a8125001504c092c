"""Schemathesis against /openapi.json, on both databases: no request makes a 500.

A bounded number of derandomized examples per operation (so the run is reproducible and
short); callers authenticate as the role each operation is meant for, so generated bodies
reach the validation code and not only the authorization check. (Schemathesis' pytest
plugin does not run under this pytest, so the operations are driven with Hypothesis here.)
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

EXAMPLES = 12  # per operation; 60 found nothing more when last raised by hand


def test_no_server_errors(api):
    api.challenge()
    api.submit("alice")
    api.drain()
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(api.app.openapi()["paths"]) or len(operations) > 20
    failures: list[str] = []
    calls = 0
    for op in operations:
        run = _runner(api, op, failures, calls_box := [0])
        try:
            run()
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
        calls += calls_box[0]
    assert calls >= len(operations)
    assert not failures, "\n".join(failures)


def _runner(api, op, failures, box):
    token = api.tokens["alice" if op.path.endswith("/submissions")
                       and op.method.upper() == "POST" else "admin"]

    @given(case=op.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        headers = dict(case.headers or {})
        headers.setdefault("Authorization", f"Bearer {token}")
        response = case.call(headers=headers)
        box[0] += 1
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} "
            f"{response.text[:300]}")

    return run
