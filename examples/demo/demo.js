// The demo page's script: plain browser JavaScript, no build step. It writes
// text with textContent only, so nothing a server or another user sends can
// become markup.
"use strict";

const $ = (selector) => document.querySelector(selector);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function tell(message, error = false) {
  const notice = $("#notice");
  notice.textContent = message;
  notice.className = error ? "shown error" : "shown";
  clearTimeout(tell.timer);
  tell.timer = setTimeout(() => (notice.className = ""), 4000);
}

function clock(at) {
  return at ? new Date(at).toLocaleTimeString() : "—";
}

// ---- Uploads: tus-js-client against /files, resumable across reloads ----
let upload = null;

function showProgress(sent, total) {
  const percent = total ? Math.floor((sent / total) * 100) : 0;
  $("#upload-bar").style.width = `${percent}%`;
  $("#upload-status").textContent = `${percent}% · ${sent} of ${total} bytes`;
}

async function startUpload(file) {
  if (file.size > Number(document.body.dataset.maxUpload)) {
    tell(`${file.name} is larger than the demo accepts`, true);
    return;
  }
  upload = new tus.Upload(file, {
    endpoint: "/files",
    chunkSize: 256 * 1024,
    retryDelays: [0, 1000, 3000],
    metadata: { filename: file.name },
    onProgress: showProgress,
    onError(error) {
      const status = error.originalResponse?.getStatus?.();
      const reason = error.originalResponse?.getBody?.() || error.message;
      $("#upload-status").textContent = status === 415 || status === 413
        ? `Refused: ${reason}`
        : `Failed: ${reason}`;
      setButtons(false, false);
    },
    onSuccess() {
      $("#upload-status").textContent = `100% · ${file.name} is stored`;
      $("#upload-bar").style.width = "100%";
      setButtons(false, false);
      refreshFiles();
    },
  });
  const previous = await upload.findPreviousUploads();
  if (previous.length > 0) {
    upload.resumeFromPreviousUpload(previous[0]);
    tell("Resuming the upload you started before");
  }
  upload.start();
  setButtons(true, false);
}

function setButtons(canPause, canResume) {
  $("#upload-pause").disabled = !canPause;
  $("#upload-resume").disabled = !canResume;
}

async function refreshFiles() {
  const { files } = await (await fetch("/api/demo/files")).json();
  const list = $("#files");
  list.replaceChildren();
  if (files.length === 0) list.append(element("li", "None yet.", "muted"));
  for (const file of files) {
    const item = element("li");
    const link = element("a", file.id);
    link.href = `/download/${encodeURIComponent(file.id)}`;
    item.append(link, ` · ${file.bytes} bytes`);
    list.append(item);
  }
}

$("#file").addEventListener("change", (event) => {
  if (event.target.files[0]) startUpload(event.target.files[0]);
});
$("#upload-pause").addEventListener("click", async () => {
  await upload?.abort();
  $("#upload-status").textContent += " · paused";
  setButtons(false, true);
});
$("#upload-resume").addEventListener("click", () => {
  upload?.start();
  setButtons(true, false);
});
const drop = $("#drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files[0]) startUpload(event.dataTransfer.files[0]);
});

// ---- Jobs: dispatch, then follow every change over Server-Sent Events ----
const jobRows = new Map();

function showJob(job) {
  let row = jobRows.get(job.id);
  if (!row) {
    row = element("tr");
    row.dataset.job = job.id;
    row.dataset.name = job.name;
    row.append(element("td"), element("td"), element("td"));
    jobRows.set(job.id, row);
    $("#job-list .empty")?.remove();
    $("#job-list").prepend(row);
  }
  row.dataset.state = job.state;
  const [name, state, progress] = row.children;
  name.replaceChildren(element("strong", job.name), element("div", job.id, "muted small"));
  const badge = element("span", job.state, `badge ${job.state}`);
  state.replaceChildren(badge);
  if (job.attempt > 1) state.append(` attempt ${job.attempt}`);
  if (job.error) state.append(element("span", job.error, "error"));
  progress.textContent = job.progress === null ? "—" : `${job.progress}%`;
}

for (const button of document.querySelectorAll("[data-dispatch]")) {
  button.addEventListener("click", async () => {
    const response = await fetch(`/api/demo/jobs/${button.dataset.dispatch}`, { method: "POST" });
    if (!response.ok) tell("Could not dispatch", true);
  });
}
fetch("/api/demo/jobs").then((r) => r.json()).then(({ jobs }) => jobs.reverse().forEach(showJob));
new EventSource("/api/demo/jobs/events").addEventListener("job", (event) => {
  showJob(JSON.parse(event.data));
});

// ---- Schedules: polled every 2 s ----
async function refreshSchedules() {
  const { heartbeats, tasks } = await (await fetch("/api/demo/schedules")).json();
  $("#heartbeats").textContent = String(heartbeats);
  const body = $("#task-list");
  body.replaceChildren();
  for (const task of tasks) {
    const row = element("tr");
    row.dataset.task = task.name;
    const name = element("td");
    name.append(
      element("strong", task.name),
      element("div", task.schedule, "small"),
      element("div", task.description, "muted small"),
    );
    const last = element("td");
    if (task.lastRun) {
      last.append(
        element("span", task.lastRun.status, `badge ${task.lastRun.status}`),
        ` ${clock(task.lastRun.at)}`,
      );
    } else last.textContent = "not yet";
    row.append(name, element("td", clock(task.nextRun)), last);
    body.append(row);
  }
}
refreshSchedules();
setInterval(refreshSchedules, 2000);

// ---- Realtime: sign in, then a presence room and a private channel ----
const members = new Map();

function showMembers() {
  const list = $("#members");
  list.replaceChildren();
  for (const member of members.values()) {
    const chip = element("li", String(member.info?.name ?? member.id));
    chip.dataset.member = member.id;
    list.append(chip);
  }
}

function connect(token, user) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`, ["kiln.v1", `bearer.${token}`]);
  const state = $("#socket-state");
  const privateChannel = `private-user.${user.id}`;
  $("#private-name").textContent = privateChannel;
  socket.addEventListener("open", () => {
    state.textContent = "open";
    state.className = "badge open";
    socket.send(JSON.stringify({ type: "subscribe", channel: "presence-lobby" }));
    socket.send(JSON.stringify({ type: "subscribe", channel: privateChannel }));
  });
  socket.addEventListener("close", (event) => {
    state.textContent = `closed (${event.code})`;
    state.className = "badge closed";
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "subscribed" && message.members) {
      members.clear();
      for (const member of message.members) members.set(member.id, member);
      showMembers();
    } else if (message.type === "member_added") {
      members.set(message.member.id, message.member);
      showMembers();
    } else if (message.type === "member_removed") {
      members.delete(message.member.id);
      showMembers();
    } else if (message.type === "message" && message.channel === privateChannel) {
      $("#pings").textContent = `${message.event} at ${clock(message.data?.at)}`;
    } else if (message.type === "error") {
      tell(message.message, true);
    }
  });
  $("#ping").onclick = () =>
    fetch(`/api/demo/ping/${encodeURIComponent(user.id)}`, { method: "POST" });
}

$("#sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/demo/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: $("#name").value }),
  });
  const answer = await response.json();
  if (!response.ok) return tell(answer.error, true);
  $("#sign-in").hidden = true;
  $("#signed-in").hidden = false;
  $("#me").textContent = answer.user.name;
  connect(answer.token, answer.user);
});

refreshFiles();
