// parley's dashboard: the one script, no build step. It streams a reply into the transcript;
// without it the reply form still works, answering when the whole reply is in.
"use strict";

function replyBubble(list) {
  const entry = document.createElement("li");
  entry.className = "entry bubble role-assistant streaming";
  entry.setAttribute("aria-live", "polite");
  entry.setAttribute("aria-busy", "true");
  const meta = document.createElement("div");
  meta.className = "meta";
  const role = document.createElement("span");
  role.className = "role";
  role.textContent = "assistant";
  meta.appendChild(role);
  const text = document.createElement("div");
  text.className = "text";
  entry.append(meta, text);
  list.appendChild(entry);
  return { entry, text };
}

function userBubble(list, message) {
  const entry = document.createElement("li");
  entry.className = "entry bubble role-user";
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = message;  // textContent: never markup
  entry.appendChild(text);
  list.appendChild(entry);
}

async function streamReply(form, status) {
  const list = document.querySelector(".transcript");
  const message = form.elements.message.value;
  const data = new URLSearchParams(new FormData(form));
  form.querySelector("button[type=submit]").disabled = true;
  status.textContent = "Sending…";
  userBubble(list, message);
  form.elements.message.value = "";
  const { entry, text } = replyBubble(list);
  const answer = await fetch(form.action, {
    method: "POST",
    body: data,
    headers: { accept: "text/event-stream" },
    credentials: "same-origin",
  });
  if (!answer.ok || !answer.body) {
    entry.remove();
    status.textContent = (await answer.text()).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
    form.querySelector("button[type=submit]").disabled = false;
    return;
  }
  status.textContent = "The model is answering…";
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let failed = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const line = block.split("\n").find((l) => l.startsWith("data: "));
      if (!line) continue;
      const event = JSON.parse(line.slice(6));
      if (event.type === "response.output_text.delta") text.textContent += event.delta;
      if (event.type === "response.failed" || event.type === "error") {
        failed = (event.response && event.response.error && event.response.error.message) || event.message || "The reply failed.";
      }
    }
  }
  entry.setAttribute("aria-busy", "false");
  if (failed) {
    status.textContent = failed;
    form.querySelector("button[type=submit]").disabled = false;
    return;
  }
  status.textContent = "Stored. Showing the new turn…";
  const query = new URLSearchParams(form.elements.after.value);
  query.set("model", form.elements.model.value);
  window.location.assign(window.location.pathname + "?" + query.toString() + "#reply");
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("reply");
  if (!form) return;
  const status = document.getElementById("reply-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    streamReply(form, status).catch((error) => {
      status.textContent = "The reply failed: " + error;
      form.querySelector("button[type=submit]").disabled = false;
    });
  });
});
