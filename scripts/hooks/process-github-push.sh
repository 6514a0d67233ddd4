#!/bin/sh
# Example: summarize a GitHub push event in one line (needs jq). Ignores other events: empty
# output means 204 and nothing is injected.
[ "$HOOK_HEADER_X_GITHUB_EVENT" = "push" ] || exit 0
jq -r '"New push to \(.repository.full_name) (\(.ref | sub("refs/heads/"; ""))) by \(.pusher.name): \(.commits | length) commit(s)."'
