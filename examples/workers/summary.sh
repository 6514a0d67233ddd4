#!/bin/sh
# A persistent worker in the shell (docs/workers.md): jq reads one JSON request per line and
# writes one answer line naming its id, unbuffered so each answer leaves at once. Here: a
# one-line summary of a JSON body; a body that is not JSON is answered as an error.
exec jq --unbuffered -c '
  .id as $id
  | try (.body | fromjson
         | {id: $id, message: "\(.type // "?") from \(.user // "?"): \(.items // [] | length) item(s)"})
    catch {id: $id, error: "not JSON"}'
