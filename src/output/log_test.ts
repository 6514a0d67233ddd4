import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { renderJsonLog, renderLog } from "./log.ts";

const record: LogRecord = {
  category: ["hookhost", "webhook"],
  level: "warning",
  message: ["hook '", "fails", "' (request ", "r-1", "): exited with ", 3, ""],
  rawMessage: "hook '{hook}' (request {request_id}): exited with {code}",
  timestamp: Date.UTC(2026, 11, 7, 12, 0, 0),
  properties: { hook: "fails", request_id: "r-1", code: 3 },
};

Deno.test("renderLog() writes one text line: time, level, category, the message filled in", () => {
  assert.equal(
    renderLog(record),
    "2026-12-07T12:00:00.000Z WARNING hookhost.webhook: hook 'fails' (request r-1): exited with 3\n",
  );
});

Deno.test("renderJsonLog() writes one JSON line by LogTape's formatter, strings not re-quoted", () => {
  const line = renderJsonLog(record);
  assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"));
  assert.deepEqual(JSON.parse(line), {
    "@timestamp": "2026-12-07T12:00:00.000Z",
    level: "WARN",
    message: "hook 'fails' (request r-1): exited with 3",
    logger: "hookhost.webhook",
    properties: { hook: "fails", request_id: "r-1", code: 3 },
  });
});
