"""Hostile inputs: malformed ARNs and names, oversized and unicode text, SQL-looking
strings, huge numbers, bogus page tokens."""

from __future__ import annotations

import base64
import json

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

VALID_ARN = "arn:aws:sagemaker:local:000000000000:artifact/0123456789abcdef0123456789abcdef"

SQLISH = st.sampled_from(
    [
        "' OR '1'='1",
        "'; DROP TABLE entities; --",
        '"; DELETE FROM associations; --',
        "1; UPDATE entities SET status='Completed'",
        "%",
        "_",
        "\\",
        "' UNION SELECT * FROM sqlite_master --",
        "$$; SELECT pg_sleep(10); $$",
        "\x00",
        "NULL",
        "*",
        "..",
        "../../etc/passwd",
    ]
)

UNICODE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40)
"""Any text, with combining marks, RTL, emoji, NUL and control characters."""

OVERSIZED = st.integers(min_value=257, max_value=20_000).map(lambda n: "x" * n)

TEXT = st.one_of(SQLISH, UNICODE, OVERSIZED, st.just(""), st.sampled_from(["Both", "DataSet"]))


def _mutated_arn(draw: st.DrawFn) -> str:
    parts = VALID_ARN.split(":")
    how = draw(st.integers(0, 5))
    if how == 0:  # a field replaced by hostile text
        i = draw(st.integers(0, len(parts) - 1))
        parts[i] = draw(TEXT)
        return ":".join(parts)
    if how == 1:  # fields dropped or repeated
        return ":".join(draw(st.lists(st.sampled_from(parts), max_size=9)))
    if how == 2:  # a wrong resource kind or id
        kind = draw(st.sampled_from(["artifact", "action", "context", "bucket", "", "ARTIFACT"]))
        return ":".join([*parts[:5], f"{kind}/{draw(TEXT)}"])
    if how == 3:  # another account or region, well-formed: names nothing
        account = draw(st.from_regex(r"\A[0-9]{12}\Z"))
        return ":".join([*parts[:3], "us-east-1", account, parts[5]])
    if how == 4:  # truncated or extended
        cut = draw(st.integers(0, len(VALID_ARN) + 5))
        return (VALID_ARN + draw(TEXT))[:cut]
    return draw(TEXT)


ARN = st.composite(_mutated_arn)()
"""An ARN that is malformed, or well-formed and names no entity of the store."""


def _bogus_token(draw: st.DrawFn) -> str:
    how = draw(st.integers(0, 3))
    if how == 0:
        return draw(TEXT)
    payload = draw(
        st.dictionaries(
            st.sampled_from(["offset", "o", "q", "v", "s", "snapshot", "k"]),
            st.one_of(st.integers(-(2**70), 2**70), TEXT, st.none(), st.lists(st.integers())),
            max_size=4,
        )
    )
    raw = json.dumps(payload).encode()
    if how == 1:
        return base64.urlsafe_b64encode(raw).decode()
    if how == 2:
        return base64.b64encode(raw).decode().rstrip("=")
    return raw.decode()


TOKEN = st.composite(_bogus_token)()
"""A page token this store never handed out."""

HUGE = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1001, 10**6, 2**31, 2**63, 2**64]),
)

PROPERTIES = st.dictionaries(TEXT, TEXT, max_size=35)
"""Properties: oversized keys and values, unicode, SQL, and too many of them."""

ANY_VALUE = st.one_of(
    TEXT, HUGE, st.none(), st.booleans(), st.floats(allow_nan=True), st.lists(TEXT, max_size=3)
)
"""A value of any JSON type, for a field that expects another."""


def fuzz(examples: int) -> settings:
    """Return the settings of one fuzz target: ``examples`` cases, no per-case deadline,
    no example database (every run draws afresh), derandomised (CI runs the same cases)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
