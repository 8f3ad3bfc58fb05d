// A burst of SSE connects, as after a deploy when every browser reconnects at once.
// Node's fetch (undici) opens them as fast as a real crowd does; one Python loop is gentler.
//
//   node burst.mjs URL COUNT TIMEOUT_MS
//
// Opens COUNT streams to URL at once and waits until each has received its first
// `connected` frame, or TIMEOUT_MS has passed. Prints one JSON line:
//   {"connected": n, "failed": n, "statuses": {...}, "errors": {...}, "ms": elapsed}
const [url, countText, timeoutText] = process.argv.slice(2);
const count = Number(countText);
const timeoutMs = Number(timeoutText);
const started = Date.now();
const controller = new AbortController();
const statuses = {};
const errors = {};
let connected = 0;
let failed = 0;

async function open() {
  try {
    const response = await fetch(url, { signal: controller.signal });
    statuses[response.status] = (statuses[response.status] || 0) + 1;
    if (response.status !== 200) {
      failed += 1;
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes('"type":"connected"')) {
      const { done, value } = await reader.read();
      if (done) {
        failed += 1;
        return;
      }
      text += decoder.decode(value, { stream: true });
    }
    connected += 1;
    // Keep reading (and so keep the stream open) until the burst is over.
    while (true) {
      const { done } = await reader.read();
      if (done) return;
    }
  } catch (error) {
    if (controller.signal.aborted) return;
    const name = (error.cause && error.cause.code) || error.name || String(error);
    errors[name] = (errors[name] || 0) + 1;
    failed += 1;
  }
}

const all = Array.from({ length: count }, open);
const deadline = setTimeout(() => controller.abort(), timeoutMs);
const poll = setInterval(() => {
  if (connected + failed >= count) controller.abort();
}, 20);
controller.signal.addEventListener("abort", () => {
  clearTimeout(deadline);
  clearInterval(poll);
});
await Promise.allSettled(all);
console.log(JSON.stringify({ connected, failed, statuses, errors, ms: Date.now() - started }));
