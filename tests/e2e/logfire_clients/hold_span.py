"""Keeps a root span and a nested span open while the test looks at the server.

1. opens `long running` and `nested {n}`, force-flushes (logfire sends a pending span for each),
   prints {"trace_id", "root", "child"} and waits for a line on stdin;
2. ends the nested span, force-flushes, prints "child ended" and waits for another line;
3. ends the root span and exits (exiting flushes the rest).
Killed with SIGKILL during step 1 or 2, it leaves only pending spans behind.
"""

import json
import sys

import logfire


def span_id(span) -> str:
    return format(span.get_span_context().span_id, "016x")


logfire.configure()
with logfire.span("long running") as root:
    with logfire.span("nested {n}", n=1) as child:
        logfire.force_flush()
        trace_id = format(root.get_span_context().trace_id, "032x")
        print(json.dumps({"trace_id": trace_id, "root": span_id(root), "child": span_id(child)}), flush=True)
        sys.stdin.readline()
    logfire.force_flush()
    print("child ended", flush=True)
    sys.stdin.readline()
