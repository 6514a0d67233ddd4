#!/bin/sh
# Example session handler: stdin = the message; its stdout is printed as the `reply`.
printf 'handled %s message %s: %s\n' "$HOOKHOST_SOURCE" "$HOOKHOST_MESSAGE_ID" "$(cat)"
