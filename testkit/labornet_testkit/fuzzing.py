"""Property-based HTTP tests from a service's own OpenAPI document.

One harness for every service's ``tests/test_fuzz.py``: schemathesis reads
the running service's ``/openapi.json`` and, for each operation named, sends
its coverage cases (boundary values, missing and wrongly typed values,
unexpected methods), the service's regressions (requests the generators do
not reach, such as ones that once got a 500) and Hypothesis-driven random
requests, schema-conforming and mutated, drawn with two codecs. Every answer
must be below 500 and pass schemathesis' checks (documented status codes,
media types, headers and response schemas), and every 4xx must be a
problem+json with a ``code`` (a 400 with ``errors``, each naming a
``field``). Part of the requests carry the token given, and the service adds
strategies that name resources that exist, so the protected and the
successful paths are exercised as well as the refusals.

Deterministic: a fixed seed, derandomized Hypothesis, no example database.
schemathesis' pytest loader (``from_fixture``) fails under pytest 9.2 (it
sets ``Function._nodeid``, which pytest no longer has), so the harness drives
the operations itself, through ``iter_coverage_cases``, ``as_strategy`` and
``validate_response``.

Only tests import this module: schemathesis and Hypothesis come from
``requirements-dev.txt``, not from the services' dependencies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup
from schemathesis.core.parameters import ParameterLocation

if TYPE_CHECKING:
    from pytest import Subtests

__all__ = [
    "CODECS",
    "FUZZ",
    "MODES",
    "SEED",
    "SEMANTIC_STATUSES",
    "Seen",
    "check",
    "config",
    "fuzz_operations",
    "load_schemas",
    "semantic_operations",
    "signed",
]

SEED = 20251126
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# Strings are drawn from all of Unicode (Thai text included); header values
# then stay ASCII. With the latin-1 codec header values take any byte a
# client may send, as WSGI reads them, and body strings stay latin-1.
CODECS = ("utf-8", "latin-1")

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    # no shrinking: the first failing request is reported as it was
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)

# (method, status) -> how many answers had it, per operation
Seen = Counter[tuple[str, int]]
# a case, or a case and the token to send it with (e.g. an agent's own)
Drawn = Case | tuple[Case, str | None]
StrategiesFor = Callable[[APIOperation], Iterable[st.SearchStrategy[Drawn]]]
Regressions = Callable[[APIOperation], Iterable[Case]]


#: what schema-valid input may still get where the answer depends on stored
#: state (409), on meaning the schema cannot say (400), or on the caller
SEMANTIC_STATUSES = ["2xx", "400", "401", "404", "409", "429"]


def semantic_operations(
    operations: Iterable[tuple[str, str]],
    also: Iterable[tuple[str, str]] = (),
    statuses: Sequence[str] = SEMANTIC_STATUSES,
) -> list[dict[str, Any]]:
    """schemathesis operation configs that let schema-valid requests of every
    non-GET operation (and of ``also``) get ``statuses``, not only 2xx."""
    semantic = {
        "checks": {"positive_data_acceptance": {"expected-statuses": list(statuses)}}
    }
    chosen = [(m, p) for m, p in operations if m != "GET"] + list(also)
    return [
        {"include-path": path, "include-method": method, **semantic}
        for method, path in chosen
    ]


def config(
    codec: str,
    operation_config: Sequence[Mapping[str, Any]] = (),
    seed: int = SEED,
) -> schemathesis.Config:
    """schemathesis' configuration: a fixed seed, ``codec`` for generated
    strings and per-operation settings (e.g. statuses that schema-valid input
    may get, in the ``operations`` list of schemathesis' config file)."""
    return schemathesis.Config.from_dict(
        {
            "seed": seed,
            "generation": {"codec": codec},
            "operations": [dict(entry) for entry in operation_config],
        }
    )


def load_schemas(
    base_url: str,
    operation_config: Sequence[Mapping[str, Any]] = (),
    seed: int = SEED,
) -> list[BaseSchema]:
    """The service's OpenAPI document, loaded once per codec in :data:`CODECS`."""
    return [
        schemathesis.openapi.from_url(
            f"{base_url}/openapi.json", config=config(codec, operation_config, seed)
        )
        for codec in CODECS
    ]


def _sent_as_declared(case: Case, response: Any) -> bool:
    """Whether every query parameter that reached the service is one the
    operation declares."""
    declared = {
        parameter.name
        for parameter in case.operation.iter_parameters()
        if parameter.location == ParameterLocation.QUERY
    }
    sent = parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)
    return set(sent) <= declared


def check(case: Case, token: str | None, seen: Seen) -> None:
    """Send ``case`` (with ``token`` as a bearer, if given) and hold the answer
    to the HTTP conventions; count its status in ``seen``."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    if isinstance(case.query, dict) and None in case.query.values():
        # requests drops a query parameter whose value is None: what is sent
        # is the rest, and schemathesis (which revalidates a changed case)
        # must judge that, not an "additional property" nobody received
        case.query = {k: v for k, v in case.query.items() if v is not None}
    response = case.call(headers=headers)
    seen[(case.method.upper(), response.status_code)] += 1
    assert response.status_code < 500, case.as_curl_command(headers)[:1000]
    if 400 <= response.status_code < 500:
        media_type = response.headers.get("content-type")
        assert media_type == ["application/problem+json"], media_type
        problem = response.json()
        assert problem["code"], problem
        assert problem["status"] == response.status_code, problem
        if response.status_code == 400:
            assert problem["errors"], problem
            assert all(error.get("field") for error in problem["errors"]), problem
    # documented status, media type, headers and schema; negative data refused
    try:
        case.validate_response(response, headers=headers)
    except FailureGroup as group:
        if any(not isinstance(f, AcceptedNegativeData) for f in group.exceptions):
            raise
        if not (token and _sent_as_declared(case, response)):
            raise
        # a "negative" case that lacked only the Authorization this harness
        # then gave it, and whose other violation did not survive sending (a
        # query parameter requests dropped), is not negative as sent: its
        # acceptance is no failure


def signed(
    cases: st.SearchStrategy[Case], token: str | None
) -> st.SearchStrategy[tuple[Case, str | None]]:
    """Cases always sent with ``token`` (``None``: without one), for
    :func:`fuzz_operations`' ``strategies_for``: e.g. an agent's own token on
    requests naming that agent. Given as credentials, not as a generated
    header, so schemathesis also checks it is enforced."""
    return cases.map(lambda case: (case, token))


def fuzz_operations(
    base_url: str,
    operations: Sequence[tuple[str, str]],
    token: str,
    subtests: Subtests,
    *,
    strategies_for: StrategiesFor | None = None,
    regressions: Regressions | None = None,
    operation_config: Sequence[Mapping[str, Any]] = (),
    seed: int = SEED,
    max_examples: int | None = None,
) -> dict[str, Seen]:
    """Fuzz each ``(method, path)`` of the service at ``base_url``, one subtest
    per operation; returns the statuses seen, by ``"METHOD /path"``.

    Per operation: the coverage cases (every other one with ``token``), then
    ``regressions(operation)`` (with ``token``), then :data:`FUZZ` examples
    drawn from schemathesis' positive and negative strategies of both codecs
    plus ``strategies_for(operation)`` (e.g. requests naming resources that
    exist), with or without ``token``, or with the token a :func:`signed`
    strategy names. Some answer must be a 2xx: the generated requests got past
    the refusals too. ``max_examples`` overrides :data:`FUZZ`'s, per operation.
    """
    schemas = load_schemas(base_url, operation_config, seed)
    fuzz_settings = (
        FUZZ if max_examples is None else settings(FUZZ, max_examples=max_examples)
    )
    results: dict[str, Seen] = {}
    for method, path in operations:
        label = f"{method} {path}"
        seen: Seen = Counter()
        results[label] = seen
        with subtests.test(label):
            _fuzz_operation(
                schemas,
                method,
                path,
                token,
                seen,
                fuzz_settings,
                strategies_for=strategies_for,
                regressions=regressions,
            )
    return results


def _fuzz_operation(
    schemas: Sequence[BaseSchema],
    method: str,
    path: str,
    token: str,
    seen: Seen,
    fuzz_settings: settings,
    *,
    strategies_for: StrategiesFor | None,
    regressions: Regressions | None,
) -> None:
    operations = [schema[path][method] for schema in schemas]
    schema, operation = schemas[0], operations[0]
    generation = schema.config.generation_for(operation=operation, phase="coverage")
    coverage = schema.iter_coverage_cases(
        operation, generation_modes=MODES, generation_config=generation
    )
    for number, case in enumerate(coverage):
        check(case, token if number % 2 else None, seen)
    for case in regressions(operation) if regressions else ():
        check(case, token, seen)

    strategies = [
        strategy
        for each in operations
        for strategy in (
            *(each.as_strategy(mode) for mode in MODES),
            *(strategies_for(each) if strategies_for else ()),
        )
    ]

    @fuzz_settings
    @given(drawn=st.one_of(strategies), with_token=st.booleans())
    def fuzz(drawn: Drawn, with_token: bool) -> None:
        if isinstance(drawn, tuple):
            check(*drawn, seen)
        else:
            check(drawn, token if with_token else None, seen)

    fuzz()
    print(method, path, sorted(seen.items()))
    assert any(200 <= status < 300 for (_, status) in seen), seen
