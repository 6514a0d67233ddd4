#!/bin/sh
# Example: summarize a GitHub push event in one line (needs jq). Serve it behind
#   verify = "github"
#   secret_env = "GITHUB_WEBHOOK_SECRET"
# hookhost then runs it only for correctly signed deliveries, once per delivery. Other events
# print nothing: empty output means 204 and nothing is injected.
if [ "$HOOK_VERIFIED" != "github" ]; then
  echo 'refusing an unverified request: set verify = "github" on this hook' >&2
  exit 1
fi
[ "$HOOK_HEADER_X_GITHUB_EVENT" = "push" ] || exit 0
jq -r '"New push to \(.repository.full_name) (\(.ref | sub("refs/heads/"; ""))) by \(.pusher.name): \(.commits | length) commit(s)."'
