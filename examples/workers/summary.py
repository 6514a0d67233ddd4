#!/usr/bin/env python3
"""A persistent worker in Python (docs/workers.md): reads one JSON request per line, answers
one JSON line naming its id. Here: a one-line summary of a JSON body."""
import json
import sys

for line in sys.stdin:
    req = json.loads(line)
    try:
        event = json.loads(req.get("body", ""))
        answer = {"id": req["id"], "message": f"{event.get('type', '?')} from {event.get('user', '?')}: {len(event.get('items', []))} item(s)"}
    except ValueError as e:
        answer = {"id": req["id"], "error": f"not JSON: {e}"}
    # One line per request, flushed: hookhost waits for it.
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
