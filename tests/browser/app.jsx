// The official @upstash/realtime React client, as an app would use it.
// Query: ?api=/api/realtime&channels=a,b&attempts=3
import React, { useEffect } from "react";
import { createRoot } from "react-dom/client";
import { RealtimeProvider, useRealtime } from "@upstash/realtime/client";

const params = new URLSearchParams(location.search);
const api = params.get("api") ?? "/api/realtime";
const channels = (params.get("channels") ?? "default").split(",");
const attempts = Number(params.get("attempts") ?? "3");

window.__events = [];
window.__statuses = [];

function Feed() {
  const { status } = useRealtime({
    channels,
    onData: (message) => window.__events.push(message),
  });
  useEffect(() => {
    window.__status = status;
    window.__statuses.push(status);
  }, [status]);
  return <p id="status">{status}</p>;
}

createRoot(document.getElementById("root")).render(
  <RealtimeProvider api={{ url: api }} maxReconnectAttempts={attempts}>
    <Feed />
  </RealtimeProvider>,
);
