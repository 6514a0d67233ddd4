#!/usr/bin/env python3
"""Example persistent worker (docs/workers.md): the GitHub push summary of
process-github-push.sh, in one long-lived Python process. Serve it with

    [[hooks]]
    name = "github"
    script = "./scripts/hooks/process-github-push.py"
    persistent = true
    verify = "github"
    secret_env = "GITHUB_WEBHOOK_SECRET"

hookhost hands it only correctly signed deliveries, once per delivery. Other events answer
nothing: no message means 204 and nothing is injected.
"""
import json
import sys

for line in sys.stdin:
    req = json.loads(line)
    answer = {"id": req["id"]}
    try:
        if req["verified"] != "github":
            answer["error"] = 'refusing an unverified request: set verify = "github" on this hook'
        elif req["headers"].get("x-github-event") == "push":
            push = json.loads(req.get("body", ""))
            branch = push.get("ref", "").removeprefix("refs/heads/")
            answer["message"] = (
                f"New push to {push['repository']['full_name']} ({branch}) by "
                f"{push['pusher']['name']}: {len(push.get('commits', []))} commit(s)."
            )
    except Exception as e:  # one bad delivery fails alone; the worker goes on
        answer = {"id": req["id"], "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
