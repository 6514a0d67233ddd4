#!/bin/sh
# Demo webhook script: turns any request into a one-line message for the session's inbox.
# stdin = the raw body; HOOK_* variables describe the request (see README).
body=$(head -c 500)
if [ -z "$body" ]; then
  echo "$HOOK_METHOD $HOOK_PATH${HOOK_QUERY:+?$HOOK_QUERY} (no body)"
else
  printf '%s %s (%s): %s\n' "$HOOK_METHOD" "$HOOK_PATH" "${HOOK_CONTENT_TYPE:-no content type}" "$body"
fi
