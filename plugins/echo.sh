#!/bin/sh
# Example script plugin: served at /hooks/echo on [server] bind, with the same interface as
# [[hooks]] scripts (stdin = body, HOOK_* variables, stdout = the message to inject).
body=$(cat)
[ -n "$body" ] || exit 0
printf 'echo via %s %s: %s\n' "$HOOK_METHOD" "$HOOK_PATH" "$body"
