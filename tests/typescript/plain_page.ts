// Compiled by tests/typegen/test_typescript.py with tsc --strict: tidings.js,
// typed by tidings.d.ts and the generated zod module, without React.
import { subscribe } from "./tidings.js";
import type { RealtimeEvents } from "./realtime-schema";

const subscription = subscribe<RealtimeEvents>("/api/realtime", {
  channels: ["demo-room-lobby"],
  onEvent(message) {
    if (message.event === "chat.message") console.log(message.data.name, message.data.text.length);
    else if (message.event === "job.progress") console.log(message.id, message.data.progress + 1);
  },
  onStatus: (status) => console.log(status === "reconnecting"),
});
subscription.update({ channels: ["demo-room-lobby", "demo-job-1"] });
subscription.close();
