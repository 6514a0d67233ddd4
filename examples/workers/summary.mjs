#!/usr/bin/env node
// A persistent worker in Node.js (docs/workers.md): reads one JSON request per line, answers one
// JSON line naming its id. Answers may go out in any order, so with `max_inflight` above 1 this
// can hold several requests while it awaits something for one of them.
import { createInterface } from "node:readline";

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  const req = JSON.parse(line);
  let answer;
  try {
    const event = JSON.parse(req.body ?? "");
    const items = Array.isArray(event.items) ? event.items.length : 0;
    answer = {
      id: req.id,
      message: `${event.type ?? "?"} from ${event.user ?? "?"}: ${items} item(s)`,
    };
  } catch (e) {
    answer = { id: req.id, error: `not JSON: ${e.message}` };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
