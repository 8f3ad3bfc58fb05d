// Compiled by tests/typegen/test_typescript.py with tsc --strict against the
// zod module `tidings schema` generates for tidings.demo:DEMO_SCHEMA.
import { createRealtime, RealtimeProvider } from "@upstash/realtime/client";
import type { RealtimeEvents } from "./realtime-schema";

const { useRealtime } = createRealtime<RealtimeEvents>();

function Room({ room }: { room: string }) {
  useRealtime({
    channels: [`demo-room-${room}`],
    events: ["chat.message", "job.progress"],
    onData({ event, data, channel }) {
      if (event === "chat.message") console.log(channel, data.name.toUpperCase(), data.text.length);
      else console.log(data.job, data.progress + 1);
    },
  });
  return null;
}

export function App() {
  return (
    <RealtimeProvider api={{ url: "/api/realtime" }}>
      <Room room="lobby" />
    </RealtimeProvider>
  );
}
