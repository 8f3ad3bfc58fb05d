// The demo page: a chat room with who is online, a background job and an event log on one subscription.
import { subscribe } from "/static/tidings.js";

const STREAM_URL = document.body.dataset.streamUrl || "/api/realtime";
const MAX_LOG_ROWS = 200;
const $ = (id) => document.getElementById(id);

// Per tab (not per browser): two tabs are two people.
const saved = {
  get: (key) => sessionStorage.getItem(`tidings-demo:${key}`),
  set: (key, value) => sessionStorage.setItem(`tidings-demo:${key}`, value),
};

const state = {
  name: null, room: null, roomChannel: null, presenceChannel: null, members: new Map(),
  job: null, jobChannel: null, sub: null, subUrl: null, logged: 0,
};

// -- the one subscription ---------------------------------------------------------

function channels() {
  return [state.roomChannel, state.presenceChannel, state.jobChannel].filter(Boolean);
}

// The stream names its user: the server enters it into the room's presence while it is open.
function streamUrl() {
  if (!state.name) return STREAM_URL;
  return STREAM_URL + (STREAM_URL.includes("?") ? "&" : "?") + `name=${encodeURIComponent(state.name)}`;
}

function follow(lastAck) {
  if (channels().length === 0) return;
  if (state.sub && state.subUrl === streamUrl()) {
    state.sub.update({ channels: channels(), lastAck });
    return;
  }
  if (state.sub) {
    // Another name: a new stream (channels kept resume where they were).
    lastAck = { ...state.sub.cursors, ...lastAck };
    state.sub.close();
  }
  state.subUrl = streamUrl();
  state.sub = subscribe(state.subUrl, {
    channels: channels(),
    lastAck,
    onEvent: handleEvent,
    onStatus: showStatus,
    onNotice: (text) => showError("chat-error", `server: ${text}`),
  });
}

function handleEvent(message, fromHistory = false) {
  logEvent(message, fromHistory);
  if (message.channel === state.roomChannel) {
    if (message.event === "chat.message") addMessage(message.data);
  } else if (message.channel === state.presenceChannel) {
    if (message.event === "presence.join") memberJoined(message.data);
    else if (message.event === "presence.leave") memberLeft(message.data);
  } else if (message.channel === state.jobChannel) {
    showJob(message);
  }
}

function showStatus(status) {
  $("status").dataset.status = status;
  $("status-text").textContent = status;
}

// -- chat ---------------------------------------------------------------------------

async function join(name, room) {
  hideError("join-error");
  const query = `room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`;
  const history = await getJson(`/demo/history?${query}`, "join-error");
  if (!history) return;
  Object.assign(state, {
    name: name.trim(),
    room: room.trim().toLowerCase(),
    roomChannel: history.channel,
    presenceChannel: history.presence.channel,
  });
  saved.set("name", state.name);
  saved.set("room", state.room);
  $("messages").replaceChildren();
  $("room-badge").textContent = `#${state.room} · ${state.name}`;
  $("room-badge").hidden = false;
  $("message").disabled = $("send").disabled = false;
  $("join").textContent = "Switch";
  for (const message of history.messages) handleEvent(message, true);
  if (history.messages.length === 0) addNotice("No messages yet: say hello!");
  state.members = new Map(history.presence.members.map((member) => [member.client_id, member.info]));
  showMembers();
  // The stream starts right after the last message shown: nothing missed, nothing twice.
  // Opening it makes this page present in the room (a reload is back within the grace: no leave).
  follow({ [state.roomChannel]: history.cursor, [state.presenceChannel]: history.presence.cursor });
  $("message").focus();
}

// Joins and leaves may arrive for a change the member list already shows: apply them idempotently.
function memberJoined({ client_id, info }) {
  if (state.members.has(client_id)) return;
  state.members.set(client_id, info);
  addNotice(`${info?.name ?? client_id} joined`);
  showMembers();
}

function memberLeft({ client_id, info }) {
  if (!state.members.delete(client_id)) return;
  addNotice(`${info?.name ?? client_id} left`);
  showMembers();
}

function showMembers() {
  const list = $("members");
  const names = [...state.members.values()].map((info) => info?.name ?? "?").sort();
  list.replaceChildren(
    ...names.map((name) => {
      const item = document.createElement("li");
      item.textContent = name;
      if (name === state.name) item.className = "me";
      return item;
    }),
  );
  $("online-count").textContent = `${names.length} online`;
  $("online").hidden = names.length === 0;
}

async function send(text) {
  hideError("chat-error");
  const sent = await post("/demo/chat", { room: state.room, name: state.name, text }, "chat-error");
  if (sent) $("message").value = "";
}

function addMessage({ name, text }) {
  const item = document.createElement("li");
  item.className = name === state.name ? "bubble mine" : "bubble";
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = name;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(who, body);
  append(item);
}

function addNotice(text) {
  const item = document.createElement("li");
  item.className = "notice";
  item.textContent = text;
  append(item);
}

function append(item) {
  const list = $("messages");
  list.querySelector(".empty")?.remove();
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

// -- job ------------------------------------------------------------------------------

async function startJob() {
  hideError("job-error");
  $("start-job").disabled = true;
  const started = await post("/demo/job", {}, "job-error");
  $("start-job").disabled = false;
  if (!started) return;
  trackJob(started.job, started.channel);
}

function trackJob(job, channel) {
  Object.assign(state, { job, jobChannel: channel });
  saved.set("job", job);
  setProgress(0, `Job ${job} starting…`);
  $("job-badge").textContent = channel;
  $("job-badge").hidden = false;
  // "0-0": replay the job's whole history, then follow it live.
  follow({ [channel]: "0-0" });
}

function showJob({ event, data }) {
  if (data.job !== state.job) return;
  if (event === "job.started") setProgress(0, `Job ${data.job} running: ${data.steps} steps`);
  else if (event === "job.progress") setProgress(data.progress, `Job ${data.job} running`);
  else if (event === "job.completed") {
    setProgress(100, `Job ${data.job} completed in ${(data.duration_ms / 1000).toFixed(1)} s`, true);
  }
}

function setProgress(percent, label, done = false) {
  $("job-fill").style.width = `${percent}%`;
  $("job-bar").setAttribute("aria-valuenow", String(percent));
  $("job-bar").classList.toggle("done", done);
  $("job-percent").textContent = `${percent} %`;
  $("job-label").textContent = label;
}

// -- event log -------------------------------------------------------------------

function logEvent(message, fromHistory) {
  const row = document.createElement("tr");
  row.className = fromHistory ? "replayed" : "fresh";
  const namespace = message.event.split(".")[0];
  const cells = [
    [message.id, "id"],
    [message.event, `event ns-${namespace}`],
    [message.channel, "channel"],
    [JSON.stringify(message.data), "data"],
  ];
  for (const [text, className] of cells) {
    const cell = document.createElement("td");
    cell.className = className;
    cell.textContent = text;
    cell.title = text;
    row.append(cell);
  }
  const log = $("log");
  log.prepend(row);
  while (log.rows.length > MAX_LOG_ROWS) log.deleteRow(-1);
  state.logged += 1;
  $("log-count").textContent = `${state.logged} event${state.logged === 1 ? "" : "s"}`;
}

// -- HTTP -------------------------------------------------------------------------------

async function post(path, body, errorId) {
  return request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }, errorId);
}

async function getJson(path, errorId) {
  return request(path, {}, errorId);
}

async function request(path, init, errorId) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    showError(errorId, `The server cannot be reached (${error.message}).`);
    return null;
  }
  const answer = await response.json().catch(() => ({}));
  if (response.ok) return answer;
  const fields = Object.entries(answer.fields || {});
  const text = fields.length
    ? fields.map(([field, problem]) => `${field}: ${problem}`).join(" · ")
    : answer.error || `HTTP ${response.status}`;
  showError(errorId, text);
  return null;
}

function showError(id, text) {
  $(id).textContent = text;
  $(id).hidden = false;
}

function hideError(id) {
  $(id).hidden = true;
}

// -- wiring ------------------------------------------------------------------------------

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  join($("name").value, $("room").value);
});
$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  send($("message").value);
});
$("start-job").addEventListener("click", startJob);

const savedJob = saved.get("job");
if (savedJob) trackJob(savedJob, `demo-job-${savedJob}`);
if (saved.get("name") && saved.get("room")) {
  $("name").value = saved.get("name");
  $("room").value = saved.get("room");
  join(saved.get("name"), saved.get("room"));
} else {
  $("name").focus();
}
