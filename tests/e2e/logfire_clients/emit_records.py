"""One record of each kind logfire sends, configured only through LOGFIRE_* environment variables.

Prints one JSON line with the trace and span ids the test looks up.
"""

import json

import pydantic

import logfire


class Point(pydantic.BaseModel):
    k: str
    n: int


def ids(span) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


logfire.configure()

logfire.info("hello {name}", name="world", _tags=["alpha", "beta"])
logfire.warn("careful {n}", n=3)
logfire.error("bad {d}", d={"k": "v"}, items=[1, 2, 3], point=Point(k="p", n=7))

with logfire.span("outer {x}", x=1) as outer:
    with logfire.span("inner") as inner:
        logfire.debug("inside")
    try:
        1 / 0
    except ZeroDivisionError:
        logfire.exception("failed {x}", x=2)

try:
    with logfire.span("raising") as raising:
        raise ValueError("bad value")
except ValueError:
    pass

logfire.metric_counter("e2e_requests").add(3)

outer_trace, outer_id = ids(outer)
_, inner_id = ids(inner)
raising_trace, raising_id = ids(raising)
print(json.dumps({
    "outer_trace": outer_trace, "outer": outer_id, "inner": inner_id,
    "raising_trace": raising_trace, "raising": raising_id,
}), flush=True)
