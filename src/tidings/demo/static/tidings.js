// tidings.js: a small browser client for a tidings SSE endpoint.
// Plain ES module, no build step, no dependencies.
//
//   import { subscribe } from "/static/tidings.js";
//
//   const sub = subscribe("/api/realtime", {
//     channels: ["room-lobby"],
//     lastAck: { "room-lobby": "1764361234567-0" },  // resume after this id (optional)
//     onEvent: (m) => console.log(m.id, m.event, m.channel, m.data),
//     onStatus: (s) => console.log(s),  // connecting | connected | reconnecting | error | closed
//     onNotice: (text) => console.warn(text),  // {"type":"error"} frames of the server
//   });
//   sub.update({ channels: ["room-lobby", "job-1"], lastAck: { "job-1": "0-0" } });
//   sub.close();
//
// Resuming, in order of preference:
// * a dropped stream is reopened by the browser's own EventSource, which sends
//   the last `id:` it saw as Last-Event-ID; the server resumes every channel
//   of the connection from that cursor;
// * a stream the server ends on purpose ({"type":"reconnect"}) or refuses
//   (4xx/5xx) is reopened here with `last_ack_<channel>` set to the exact id
//   last delivered on each channel.
// Either way an event at or below a channel's last id is never delivered twice.

const ID_PATTERN = /^(\d+)-(\d+)$/;
const IDLE_TIMEOUT_MS = 75_000; // the server pings at least every 60 s
const MAX_BACKOFF_MS = 15_000;

/** -1, 0 or 1 comparing two "<ms>-<seq>" ids as integer pairs (never as strings). */
export function compareIds(a, b) {
  const [, aMs, aSeq] = ID_PATTERN.exec(a);
  const [, bMs, bSeq] = ID_PATTERN.exec(b);
  const ms = BigInt(aMs) - BigInt(bMs);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(aSeq) - BigInt(bSeq);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

export class Subscription {
  constructor(url, { channels, lastAck = {}, onEvent, onStatus, onNotice, withCredentials = false }) {
    if (!channels || channels.length === 0) throw new Error("tidings: give at least one channel");
    this.url = url;
    this.channels = [...new Set(channels)];
    this.withCredentials = withCredentials;
    this.onEvent = onEvent || (() => {});
    this.onStatus = onStatus || (() => {});
    this.onNotice = onNotice || ((text) => console.warn("tidings:", text));
    this.status = "connecting";
    this._acks = {};
    this._setAcks(lastAck);
    this._source = null;
    this._attempts = 0;
    this._retryTimer = null;
    this._idleTimer = null;
    this._closed = false;
    this._open(false);
  }

  /** Per channel, the id this subscription resumes after. */
  get cursors() {
    return { ...this._acks };
  }

  /** Follow another set of channels; channels kept resume exactly where they were. */
  update({ channels, lastAck = {} }) {
    this.channels = [...new Set(channels)];
    for (const channel of Object.keys(this._acks)) {
      if (!this.channels.includes(channel)) delete this._acks[channel];
    }
    this._setAcks(lastAck);
    this._reopen();
  }

  close() {
    this._closed = true;
    this._stop();
    this._setStatus("closed");
  }

  // -- internals ------------------------------------------------------------------

  _setAcks(lastAck) {
    for (const [channel, id] of Object.entries(lastAck)) {
      if (this.channels.includes(channel) && ID_PATTERN.test(id)) this._acks[channel] = id;
    }
  }

  _streamUrl() {
    const params = new URLSearchParams();
    for (const channel of this.channels) params.append("channel", channel);
    for (const [channel, id] of Object.entries(this._acks)) params.append(`last_ack_${channel}`, id);
    return this.url + (this.url.includes("?") ? "&" : "?") + params.toString();
  }

  _open(retrying) {
    const source = new EventSource(this._streamUrl(), { withCredentials: this.withCredentials });
    this._source = source;
    this._setStatus(retrying ? "reconnecting" : "connecting");
    source.onopen = () => {
      if (source !== this._source) return;
      this._attempts = 0;
      this._setStatus("connected");
      this._watch();
    };
    source.onmessage = (message) => {
      if (source === this._source) this._frame(message.data);
    };
    source.onerror = () => {
      if (this._closed || source !== this._source) return;
      if (source.readyState === EventSource.CONNECTING) {
        // The browser retries by itself, sending Last-Event-ID.
        this._setStatus("reconnecting");
      } else {
        // Refused (4xx/5xx, wrong content type): the browser gave up; retry with backoff.
        this._setStatus("error");
        this._retryLater();
      }
    };
  }

  _frame(text) {
    this._watch();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case "connected":
        if (typeof frame.cursor === "string" && ID_PATTERN.test(frame.cursor)) {
          this._advance(frame.channel, frame.cursor);
        }
        return;
      case "ping":
      case "disconnected":
        return;
      case "reconnect":
        // The server is closing this stream: come back at once, from exact ids.
        this._reopen();
        return;
      case "error":
        this.onNotice(String(frame.error));
        return;
    }
    if (typeof frame.id !== "string" || !ID_PATTERN.test(frame.id) || typeof frame.channel !== "string") return;
    if (!this._advance(frame.channel, frame.id)) return; // already delivered
    this.onEvent({ id: frame.id, event: frame.event, channel: frame.channel, data: frame.data });
  }

  /** Move a channel's cursor forward; false if `id` is not after it (a duplicate). */
  _advance(channel, id) {
    const last = this._acks[channel];
    if (last !== undefined && compareIds(id, last) <= 0) return false;
    this._acks[channel] = id;
    return true;
  }

  _reopen() {
    if (this._closed) return;
    this._stop();
    this._open(true);
  }

  _retryLater() {
    this._stop();
    const delay = Math.min(500 * 2 ** this._attempts, MAX_BACKOFF_MS);
    this._attempts += 1;
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this._closed) this._open(true);
    }, delay);
  }

  _watch() {
    clearTimeout(this._idleTimer);
    this._idleTimer = setTimeout(() => this._reopen(), IDLE_TIMEOUT_MS);
  }

  _stop() {
    clearTimeout(this._idleTimer);
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this._source) {
      this._source.close();
      this._source = null;
    }
  }

  _setStatus(status) {
    if (status === this.status && status !== "connecting") return;
    this.status = status;
    this.onStatus(status);
  }
}

/** Subscribe to `channels` of the endpoint at `url`; see the top of this file. */
export function subscribe(url, options) {
  return new Subscription(url, options);
}
