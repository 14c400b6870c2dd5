// The agent timeline (anywidget ESM, no build step).
// The kernel sends small operations as custom messages (frame {seq, ops: [...]}, one message per
// frame; the vocabulary both widgets share is in rlm_jupyter/wire.py); this module folds them into
// the DOM in place. The kernel sends a snapshot {seq, ops} once, unasked, a second after the
// widget opened (a page binds this module after the model exists and loses the frames in between);
// the page asks with sync {seq} only on a gap that snapshot did not mend, and once when an approval
// waits for its buttons (the kernel's approver learns from it that a page shows the timeline).
// Nothing else unasked: a page message is handled on a subshell whose busy/idle the page would
// take for the kernel's while a cell runs. stop, decide {id, approved}, messages {step, all} (the
// reply: messages {step, first, total, messages, error}: what the step added to the conversation, or
// all of them), closed {step} and fork {step} (Fork from here; the reply: fork {step, state, line,
// error}) go from the page to the kernel. When
// the run ends the kernel also sets the `snapshot` trait (every operation), so a view rendered
// later, or after a reload, is complete.
// Model text and tool output are untrusted: they only ever reach the DOM through textContent or
// through the safe markdown renderer (markdown.js; it and common.js are put in front of this module).
// A tool's images (checked by the kernel) are shown only as data: URLs of a raster type, checked
// again here: nothing is fetched, and nothing that can hold script (SVG) becomes an <img>.
// A step's reasoning (a thinking model's) grows as text in a "Thinking" <details> at the top of
// the step, open while it streams and folded once the step's text, thought or action begins.

const stores = new WeakMap();
// What an image from a tool may be: a raster type, base64 only, at most the kernel's limit (1 MB).
const RASTER = /^image\/(png|jpeg|gif|webp)$/;
// How each type's base64 begins (its magic bytes): data that does not is not shown as that type.
const MAGIC = { "image/png": "iVBORw0KGgo", "image/jpeg": "/9j/", "image/gif": "R0lGOD", "image/webp": "UklGR" };
const BASE64 = /^[A-Za-z0-9+\/]+={0,2}$/;
const MAX_IMAGE = 4 * Math.ceil((1024 * 1024) / 3);

function storeOf(model) {
  let store = stores.get(model);
  if (!store) {
    // A model created mid-run (a reload, a second tab) starts from the kernel's snapshot of every
    // operation sent so far (and at least the header); later messages with a higher seq follow.
    store = { ops: (model.get("snapshot") || []).slice(), seq: model.get("seq") || 0, views: new Set(),
              messages: {}, forks: {}, asked: false, askTimer: null, shown: new Set() };
    stores.set(model, store);
    rlmOnMessage(model, {
      frame: (msg) => receive(model, store, msg),
      snapshot: (msg) => restore(store, msg),
      messages: (msg) => {
        store.messages[msg.step] = msg;
        for (const view of store.views) view.showMessages(msg.step);
      },
      fork: (msg) => {
        if (msg.state === "queued") { // the kernel keeps one: the last click's cell is the one to come
          for (const n of Object.keys(store.forks)) {
            if (store.forks[n].state === "queued") delete store.forks[n];
          }
        }
        store.forks[msg.step] = msg;
        for (const view of store.views) view.showForks();
      },
    });
    model.on("change:snapshot", () => {
      const snapshot = model.get("snapshot") || [];
      if (snapshot.length && (model.get("seq") || 0) >= store.seq) {
        store.ops = snapshot.slice();
        store.seq = model.get("seq") || store.seq;
        for (const view of store.views) view.rebuild();
      }
    });
  }
  return store;
}

// Ask for every operation, once, after `wait` ms unless a snapshot mends the gap first.
function ask(model, store, wait = 0) {
  if (store.asked) return;
  store.asked = true;
  const send = () => { if (store.asked) rlmSend(model, "sync", { seq: store.seq }); };
  if (wait) store.askTimer = setTimeout(send, wait);
  else send();
}

// The kernel's reply to sync: every operation sent so far, if it has more than this page.
function restore(store, msg) {
  store.asked = false;
  clearTimeout(store.askTimer);
  if (typeof msg.seq === "number" && msg.seq > store.seq) {
    store.ops = (msg.ops || []).slice();
    store.seq = msg.seq;
    for (const view of store.views) view.rebuild();
  }
}

function receive(model, store, msg) {
  if (typeof msg.seq === "number") {
    if (msg.seq <= store.seq) return; // already applied (a snapshot overtook it)
    if (msg.seq > store.seq + 1) { ask(model, store, 2500); return; } // a gap: a snapshot has it all
    store.seq = msg.seq;
    store.asked = false; // in order again: a later gap may ask again
  }
  for (const op of msg.ops || []) {
    store.ops.push(op);
    for (const view of store.views) view.apply(op);
  }
}

// Markdown through the page libraries (rlmPage(), sent once per page); plain text without them.
let rlmMd = null;
rlmPage().then((api) => { rlmMd = api; });

function renderMarkdownInto(el, text) {
  if (rlmMd) rlmMd.renderMarkdown(el, text);
  else el.textContent = text;
}

// Streaming text: the incremental renderer keeps finished blocks, so a long answer is not
// re-rendered whole on every frame.
function liveMarkdown(el) {
  if (rlmMd) return rlmMd.markdownView(el);
  return { update(text) { renderMarkdownInto(el, text); } };
}

const PREVIEW = 400;

function createView(model, el, store) {
  const root = rlmEl("div", "rlm-timeline");
  root.dataset.state = "running";
  const header = rlmEl("div", "rlm-timeline-header");
  const fields = {};
  for (const name of ["state", "model", "steps", "tokens", "cost", "elapsed", "parent"]) {
    fields[name] = rlmEl("span", `rlm-h-${name}`);
    header.appendChild(fields[name]);
  }
  const stop = rlmStopButton(model, "Stop this run");
  stop.style.visibility = "hidden"; // its box stays: the header keeps its shape when the run ends
  header.appendChild(stop);
  const list = rlmEl("div", "rlm-steps");
  root.append(header, list);
  el.replaceChildren(root);

  let steps = new Map();
  let last = null;
  let receivedAt = 0;

  function stepOf(n) {
    let step = steps.get(n);
    if (step) return step;
    const box = rlmEl("div", "rlm-step");
    box.dataset.step = String(n);
    const title = rlmEl("button", "rlm-step-title", `Step ${n}`);
    title.type = "button";
    title.title = "Show the messages sent to the model at this step";
    const rows = rlmEl("div", "rlm-rows");
    const panel = rlmEl("div", "rlm-messages");
    panel.hidden = true;
    title.addEventListener("click", () => {
      if (!panel.hidden) {
        panel.hidden = true;
        rlmSend(model, "closed", { step: n });
        return;
      }
      panel.hidden = false;
      if (store.messages[n]) view.showMessages(n);
      else {
        panel.textContent = "Loading…";
        rlmSend(model, "messages", { step: n });
      }
    });
    // Fork from here (a recorded run): only the step's number goes to the kernel, which builds the
    // fork's cell from its own trace; its reply says where the cell comes (see timeline/forking.py).
    const fork = rlmEl("button", "rlm-fork", "Fork from here");
    fork.type = "button";
    fork.title = "A cell below with this step's messages, to edit and run (as %rlm fork FILE --step N)";
    fork.hidden = !model.get("forkable");
    fork.addEventListener("click", () => {
      fork.disabled = true;
      rlmSend(model, "fork", { step: n });
    });
    const forkNote = rlmEl("div", "rlm-fork-note");
    forkNote.hidden = true;
    box.append(title, fork, forkNote, panel, rows);
    list.appendChild(box);
    step = { box, rows, panel, fork, forkNote, live: null, thinking: null, actions: new Map(),
             approvals: new Map() };
    steps.set(n, step);
    return step;
  }

  function row(kind, label, duration) {
    const r = rlmEl("div", `rlm-row rlm-${kind}`);
    const head = rlmEl("div", "rlm-row-head");
    head.append(rlmEl("span", "rlm-label", label), rlmEl("span", "rlm-duration", rlmSeconds(duration)));
    const body = rlmEl("div", "rlm-body");
    r.append(head, body);
    r._body = body;
    return r;
  }

  function retag(r, kind, label, duration) {
    r.className = `rlm-row rlm-${kind}`;
    r.querySelector(".rlm-label").textContent = label;
    r.querySelector(".rlm-duration").textContent = rlmSeconds(duration);
  }

  // Approve / Deny: the tool and its arguments (model output: textContent only), and while the run
  // waits for this timeline, two buttons whose click goes back to the kernel over the comm
  // (handled on a subshell while the cell runs). The kernel's decision op updates the same row.
  function approval(op) {
    const step = stepOf(op.step);
    let r = step.approvals.get(op.id);
    if (!r) {
      r = row("approval", "Approval", null);
      r._verdict = rlmEl("div", "rlm-verdict");
      r._body.append(rlmEl("code", "rlm-tool", op.tool), rlmEl("pre", "rlm-args", op.args), r._verdict);
      step.rows.appendChild(r);
      step.approvals.set(op.id, r);
    }
    r.dataset.outcome = op.state;
    if (op.state !== "pending") {
      retag(r, "approval", op.state === "approved" ? "Approved" : "Denied", null);
      r._verdict.textContent = op.state === "denied" && op.reason ? op.reason : "";
      return;
    }
    r._verdict.replaceChildren(rlmEl("span", "rlm-ask", op.ask ? `Run ${op.tool}?` : "waiting for approval"));
    if (!op.ask) return;
    const store = storeOf(model);
    if (!store.shown.has(op.id)) {  // the approver waits to learn that a page shows its buttons
      store.shown.add(op.id);
      rlmSend(model, "sync", { seq: store.seq });
    }
    const buttons = rlmEl("span", "rlm-decide");
    for (const [label, approved] of [["Approve", true], ["Deny", false]]) {
      const b = rlmEl("button", approved ? "rlm-approve" : "rlm-deny", label);
      b.type = "button";
      b.addEventListener("click", () => {
        for (const other of buttons.querySelectorAll("button")) other.disabled = true;
        rlmSend(model, "decide", { id: op.id, approved });
      });
      buttons.appendChild(b);
    }
    r._verdict.appendChild(buttons);
  }

  function images(op) {
    const box = rlmEl("div", "rlm-images");
    for (const image of op.images || []) {
      const mime = image && image.mime_type, data = image && image.data;
      if (!RASTER.test(mime || "") || typeof data !== "string" || data.length > MAX_IMAGE
          || !data.startsWith(MAGIC[mime]) || !BASE64.test(data)) {
        continue;
      }
      const img = rlmEl("img", "rlm-image");
      img.alt = `image from ${op.tool || "the tool"}`;
      img.src = `data:${mime};base64,${data}`;
      box.appendChild(img);
    }
    return box.childNodes.length ? box : null;
  }

  function progress(op) {
    const step = stepOf(op.step);
    const action = step.actions.get(op.id);
    if (!action) return;
    let line = action.querySelector(".rlm-progress");
    if (!line) {
      line = rlmEl("div", "rlm-progress");
      line._bar = rlmEl("progress", "rlm-progress-bar");
      line._text = rlmEl("span", "rlm-progress-text");
      line.append(line._bar, line._text);
      action._body.appendChild(line);
    }
    if (typeof op.total === "number" && op.total > 0 && typeof op.done === "number") {
      line._bar.max = op.total;
      line._bar.value = Math.min(op.done, op.total);
    } else {
      line._bar.removeAttribute("value");  // indeterminate: how much is left is not known
    }
    line._text.textContent = op.text || "";
  }

  function observation(op) {
    const label = op.outcome === "denied" ? "Denied" : op.error ? "Error" : "Observation";
    const r = row(op.error ? "observation rlm-error" : "observation", label, op.duration);
    if (op.outcome) r.dataset.outcome = op.outcome;
    const pre = rlmEl("pre", "rlm-text");
    const full = op.text || "";
    const cut = op.length > full.length ? `\n… (${op.length - full.length} more characters not shown)` : "";
    if (full.length > PREVIEW) {
      pre.textContent = full.slice(0, PREVIEW) + "…";
      const more = rlmEl("button", "rlm-more", `show all (${op.length} characters)`);
      more.type = "button";
      more.addEventListener("click", () => {
        const open = more.dataset.open === "1";
        pre.textContent = open ? full.slice(0, PREVIEW) + "…" : full + cut;
        more.dataset.open = open ? "0" : "1";
        more.textContent = open ? `show all (${op.length} characters)` : "show less";
      });
      r._body.append(pre, more);
    } else {
      pre.textContent = full + cut;
      r._body.append(pre);
    }
    const pictures = images(op);
    if (pictures) r._body.append(pictures);
    return r;
  }

  function fold(step) {
    if (step.thinking && !step.thinking._folded) {
      step.thinking._folded = true;
      step.thinking._details.open = false;
    }
  }

  function apply(op) {
    if (op.step !== undefined && op.op !== "reasoning" && op.op !== "step" && steps.has(op.step)) {
      fold(steps.get(op.step));
    }
    switch (op.op) {
      case "step":
        stepOf(op.step);
        break;
      case "live": {
        const step = stepOf(op.step);
        if (!step.live) {
          step.live = row("live", "…", null);
          step.live._text = "";
          step.live._md = liveMarkdown(step.live._body);
          step.rows.appendChild(step.live);
        }
        step.live._text += op.delta;
        step.live._md.update(step.live._text);
        break;
      }
      case "reasoning": {
        const step = stepOf(op.step);
        if (!step.thinking) {
          const r = rlmEl("div", "rlm-row rlm-reasoning");
          const details = rlmEl("details", "rlm-thinking");
          details.open = true;
          const text = rlmEl("div", "rlm-thinking-text");
          details.append(rlmEl("summary", "rlm-thinking-title", "Thinking"), text);
          r.append(details);
          r._details = details;
          r._text = text;
          step.rows.appendChild(r);
          step.thinking = r;
        }
        step.thinking._text.appendChild(document.createTextNode(op.delta));
        break;
      }
      case "thought": {
        const step = stepOf(op.step);
        const r = step.live || row("thought", "Thought", op.duration);
        if (!step.live) step.rows.appendChild(r);
        step.live = null;
        retag(r, "thought", "Thought", op.duration);
        r._body.replaceChildren(rlmEl("div", "rlm-text", op.text));
        break;
      }
      case "action": {
        const step = stepOf(op.step);
        const r = row("action", "Action", null);
        if (op.id) r.dataset.call = op.id;
        r._body.append(rlmEl("code", "rlm-tool", op.tool), rlmEl("pre", "rlm-args", op.args));
        step.rows.appendChild(r);
        step.actions.set(op.id, r);
        break;
      }
      case "approval":
        approval(op);
        break;
      case "progress":
        progress(op);
        break;
      case "observation": {
        const step = stepOf(op.step);
        const action = step.actions.get(op.id);
        if (action) {
          action.querySelector(".rlm-duration").textContent = rlmSeconds(op.duration);
          const line = action.querySelector(".rlm-progress");
          if (line) line.remove();  // the call is over: its observation says how it went
        }
        step.rows.appendChild(observation(op));
        break;
      }
      case "error": {
        const step = stepOf(op.step || 1);
        const r = row("error", "Error", null);
        r._body.append(rlmEl("pre", "rlm-text", op.text));
        step.rows.appendChild(r);
        break;
      }
      case "final": {
        const step = stepOf(op.step);
        const r = step.live || row("final", "Answer", op.duration);
        if (!step.live) step.rows.appendChild(r);
        step.live = null;
        retag(r, op.error ? "final rlm-error" : "final", "Answer", op.duration);
        if (r._md) r._md.update(op.text);
        else renderMarkdownInto(r._body, op.text);
        break;
      }
      case "header":
        last = op;
        receivedAt = Date.now();
        root.dataset.state = op.state;
        fields.state.textContent = op.reason ? `${op.state} (${op.reason})` : op.state;
        fields.model.textContent = op.model;
        fields.steps.textContent = `${op.steps} step${op.steps === 1 ? "" : "s"}`;
        fields.tokens.textContent = `${op.tokens} token${op.tokens === 1 ? "" : "s"}`;
        fields.cost.textContent = op.cost || "";
        fields.cost.hidden = !op.cost;
        stop.style.visibility = op.state === "running" && model.get("stoppable") ? "visible" : "hidden";
        fields.elapsed.textContent = rlmSeconds(op.elapsed);
        fields.parent.textContent = op.parent || "";
        fields.parent.hidden = !op.parent;
        break;
    }
  }

  // What the kernel answered to a step's Fork from here (text only: the line is the kernel's own).
  function forkNote(step, msg) {
    if (msg.state === "queued") {
      step.forkNote.textContent = "The fork's cell will appear below this cell when it ends.";
    } else if (msg.state === "line") {
      step.forkNote.replaceChildren("This cell has ended: run ", rlmEl("code", "", String(msg.line)),
                                    " in a cell to get the fork's cell below it.");
    } else {
      step.forkNote.textContent = String(msg.error || "This step cannot be forked.");
    }
  }

  const timer = setInterval(() => {
    if (last && last.state === "running") {
      fields.elapsed.textContent = rlmSeconds(last.elapsed + (Date.now() - receivedAt) / 1000);
    }
  }, 250);

  const view = {
    apply,
    rebuild() {
      steps = new Map();
      list.replaceChildren();
      for (const op of store.ops) apply(op);
      view.showForks();
    },
    showMessages(n) {
      const step = steps.get(n);
      const msg = store.messages[n];
      if (!step || !msg || step.panel.hidden) return;
      step.panel.replaceChildren();
      if (msg.error) step.panel.append(rlmEl("div", "rlm-text", msg.error));
      // The kernel sends what this step added to the conversation: the first `first` messages are
      // the ones the step before sent (so a long run's panels do not repeat the whole history).
      if (msg.first > 0) {
        const same = rlmEl("div", "rlm-same", `1–${msg.first} as at step ${n - 1}, then: `);
        const all = rlmEl("button", "rlm-more", `show all ${msg.total}`);
        all.type = "button";
        all.addEventListener("click", () => {
          all.disabled = true;
          rlmSend(model, "messages", { step: n, all: true });
        });
        same.append(all);
        step.panel.append(same);
      }
      for (const m of msg.messages || []) {
        const item = rlmEl("div", "rlm-message");
        item.dataset.role = String(m.role || "");
        item.append(rlmEl("span", "rlm-role", String(m.role || "")));
        const content = typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? null, null, 2);
        item.append(rlmEl("pre", "rlm-text", content));
        if (m.tool_calls) item.append(rlmEl("pre", "rlm-args", JSON.stringify(m.tool_calls, null, 2)));
        step.panel.append(item);
      }
    },
    showForks() {
      for (const [n, step] of steps) {
        const msg = store.forks[n];
        step.fork.disabled = !!msg && msg.state === "queued";
        step.forkNote.hidden = !msg;
        if (msg) forkNote(step, msg);
      }
    },
    dispose() {
      clearInterval(timer);
    },
  };
  return view;
}

function initialize({ model }) {
  storeOf(model);
}

async function render({ model, el }) {
  // the page libraries come with the first widget of the kernel: wait for them a moment
  if (!rlmMd) await Promise.race([rlmPage(), new Promise((r) => { setTimeout(r, 3000); })]);
  const store = storeOf(model);
  const view = createView(model, el, store);
  store.views.add(view);
  view.rebuild();
  return () => {
    store.views.delete(view);
    view.dispose();
  };
}

export default { initialize, render };
