// The demo page: a chat room, a background job and an event log on one subscription.
import { subscribe } from "/static/tidings.js";

const STREAM_URL = document.body.dataset.streamUrl || "/api/realtime";
const MAX_LOG_ROWS = 200;
const $ = (id) => document.getElementById(id);

// Per tab (not per browser): two tabs are two people.
const saved = {
  get: (key) => sessionStorage.getItem(`tidings-demo:${key}`),
  set: (key, value) => sessionStorage.setItem(`tidings-demo:${key}`, value),
};

const state = { name: null, room: null, roomChannel: null, job: null, jobChannel: null, sub: null, logged: 0 };

// -- the one subscription ---------------------------------------------------------

function channels() {
  return [state.roomChannel, state.jobChannel].filter(Boolean);
}

function follow(lastAck) {
  if (channels().length === 0) return;
  if (state.sub) {
    state.sub.update({ channels: channels(), lastAck });
    return;
  }
  state.sub = subscribe(STREAM_URL, {
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
    else if (message.event === "user.joined") addNotice(`${message.data.name} joined`);
    else if (message.event === "user.left") addNotice(`${message.data.name} left`);
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
  if (state.room && (state.room !== room || state.name !== name)) leave();
  const joined = await post("/demo/join", { room, name }, "join-error");
  if (!joined) return;
  const history = await getJson(`/demo/history?room=${encodeURIComponent(room)}`, "join-error");
  if (!history) return;
  Object.assign(state, { name: name.trim(), room: room.trim().toLowerCase(), roomChannel: history.channel });
  saved.set("name", state.name);
  saved.set("room", state.room);
  $("messages").replaceChildren();
  $("room-badge").textContent = `#${state.room} · ${state.name}`;
  $("room-badge").hidden = false;
  $("message").disabled = $("send").disabled = false;
  $("join").textContent = "Switch";
  for (const message of history.messages) handleEvent(message, true);
  if (history.messages.length === 0) addNotice("No messages yet: say hello!");
  // The stream starts right after the last message shown: nothing missed, nothing twice.
  follow({ [state.roomChannel]: history.cursor });
  $("message").focus();
}

function leave() {
  const body = JSON.stringify({ room: state.room, name: state.name });
  navigator.sendBeacon("/demo/leave", new Blob([body], { type: "application/json" }));
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
window.addEventListener("pagehide", () => {
  if (state.room) leave();
});

const savedJob = saved.get("job");
if (savedJob) trackJob(savedJob, `demo-job-${savedJob}`);
if (saved.get("name") && saved.get("room")) {
  $("name").value = saved.get("name");
  $("room").value = saved.get("room");
  join(saved.get("name"), saved.get("room"));
} else {
  $("name").focus();
}
