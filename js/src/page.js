// The page libraries of rlm_jupyter's widgets, bundled once by build.mjs into
// rlm_jupyter/static/vendor/page.js. The kernel sends this module once per page (the shared
// PageAssets widget, rlm_jupyter/page.py); each widget's small module waits for it through
// rlmPage() (static/common.js) and renders with it.
//
// One renderer for live and final: markdown-it (raw HTML off, images off, links http/https/mailto
// or relative), the dollar-math rule rlm_jupyter/render.py applies too (Pandoc's: "$5 and $6" is
// money), KaTeX for the formulas (trust off, bounded), highlight.js for fenced code (the classes the
// kernel's static copy colours the same way).
import MarkdownIt from "markdown-it";
import katex from "katex";
import hljs from "highlight.js/lib/core";
import python from "highlight.js/lib/languages/python";
import javascript from "highlight.js/lib/languages/javascript";
import typescript from "highlight.js/lib/languages/typescript";
import json from "highlight.js/lib/languages/json";
import bash from "highlight.js/lib/languages/bash";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import xml from "highlight.js/lib/languages/xml";
import css from "highlight.js/lib/languages/css";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import java from "highlight.js/lib/languages/java";
import go from "highlight.js/lib/languages/go";
import rust from "highlight.js/lib/languages/rust";
import yaml from "highlight.js/lib/languages/yaml";
import { mathRule, MATH_LIMIT } from "./math.js";
import { BlockScanner } from "./blocks.js";

const LANGUAGES = { python, javascript, typescript, json, bash, shell, sql, xml, css, c, cpp, java, go, rust, yaml };
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);

//: Code blocks longer than this are shown without colours (highlighting is linear, but a frame's budget is not).
const HIGHLIGHT_LIMIT = 20000;

function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

// A formula as MathML (no fonts, no style sheet: the browser lays it out), or as its source text
// when KaTeX refuses it or it is too long.
function formula(tex, display) {
  if (tex.length > MATH_LIMIT) return `<code class="rlm-math-source">${escapeHtml(tex)}</code>`;
  try {
    return katex.renderToString(tex, {
      displayMode: display, output: "mathml", throwOnError: false, trust: false, strict: "ignore",
      maxExpand: 200, maxSize: 20, globalGroup: false,
    });
  } catch (e) {
    return `<code class="rlm-math-source">${escapeHtml(tex)}</code>`;
  }
}

const SAFE_URL = /^(?:https?:|mailto:|#|[^:]*$|[^:]*[/?#])/i;

function makeMarkdown() {
  const md = new MarkdownIt("commonmark", {
    html: false, linkify: false, typographer: false,
    highlight(code, lang) {
      const name = (lang || "").trim().split(/\s+/)[0].toLowerCase();
      if (!name || code.length > HIGHLIGHT_LIMIT || !hljs.getLanguage(name)) return "";
      try {
        return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
      } catch (e) {
        return "";
      }
    },
  });
  md.enable(["table", "strikethrough"]);
  md.disable("image");
  md.validateLink = (url) => SAFE_URL.test(url.replace(/[\u0000-\u0020\u007f]+/g, ""));
  mathRule(md, formula);
  const linkOpen = md.renderer.rules.link_open || ((tokens, i, options, env, self) => self.renderToken(tokens, i, options));
  md.renderer.rules.link_open = (tokens, i, options, env, self) => {
    tokens[i].attrSet("target", "_blank");
    tokens[i].attrSet("rel", "noopener noreferrer");
    return linkOpen(tokens, i, options, env, self);
  };
  return md;
}

const md = makeMarkdown();

// The safe HTML of a markdown text (markdown-it escapes every character of the model's text).
function toHtml(text) {
  return md.render(text);
}

// A markdown text rendered into `el`, replacing what it held.
function renderMarkdown(el, text) {
  el.innerHTML = toHtml(text);
}

// Characters that may change how the text before it renders (emphasis, code, links, math,
// escapes, entities, tables): a delta without them, inside a paragraph, is appended as text.
const MARKUP = /[\n\\`*_~\[\]()<>&$!|]/;

// The streaming view: finished blocks (ended by a blank line that starts a new top-level block;
// blocks.js) are rendered once and never touched again; the growing last block is rendered again
// only when its new text can change it, else the text is appended to it. A frame's work is
// proportional to what changed, not to the answer.
function markdownView(el) {
  // the tail's nodes are el's children from `tailFrom` on (finished blocks' nodes come before)
  let text = "", blocks = new BlockScanner(), done = 0, tailFrom = 0, shown = 0, plain = null;
  const reset = () => { el.replaceChildren(); text = ""; blocks = new BlockScanner(); done = 0; tailFrom = 0; shown = 0; plain = null; hidden = ""; };
  const replaceTail = (html) => {
    while (el.childNodes.length > tailFrom) el.lastChild.remove();
    const template = document.createElement("template");
    template.innerHTML = html;
    el.append(template.content);
  };
  const finishBlocks = () => {
    for (let at = blocks.next(text); at >= 0; at = blocks.next(text)) {
      replaceTail(toHtml(text.slice(done, at)));
      tailFrom = el.childNodes.length;
      done = at; shown = at; plain = null; hidden = "";
    }
  };
  // `hidden`: the spaces ending the text, which markdown-it trims from a paragraph's end; they are
  // put in front of the next plain delta.
  let hidden = "";
  const renderTail = () => {
    if (shown === text.length) return;
    const fresh = text.slice(shown);
    if (plain && !MARKUP.test(fresh)) {
      const both = hidden + fresh, visible = both.replace(/[ \t]+$/, "");
      hidden = both.slice(visible.length);
      // a text node of its own: the browser shapes only the new text, not the paragraph again
      if (visible) plain.appendChild(document.createTextNode(visible));
      shown = text.length;
      return;
    }
    const source = text.slice(done);
    replaceTail(toHtml(source));
    shown = text.length;
    // A lone paragraph ending in text: later plain deltas are appended to it as text nodes.
    const nodes = [...el.childNodes].slice(tailFrom).filter((n) => n.nodeType === 1);
    const only = nodes.length === 1 ? nodes[0] : null;
    hidden = /[ \t]*$/.exec(source)[0];
    plain = only && only.tagName === "P" && only.lastChild && only.lastChild.nodeType === 3 && !/\n[ \t]*$/.test(source)
      ? only : null;
  };
  return {
    update(next) {
      next = next || "";
      // an append keeps the text seen so far; anything else starts over
      if (next.length < text.length || next.slice(Math.max(0, text.length - 64), text.length) !== text.slice(-64)) reset();
      text = next;
      finishBlocks();
      renderTail();
    },
  };
}

const api = { toHtml, renderMarkdown, markdownView };

// The PageAssets widget's module: when its model is created, hand the renderer to the widgets
// waiting under its key (a key per build: two versions of rlm in one page do not mix).
function slot(key) {
  if (!globalThis[key]) {
    let resolve;
    const ready = new Promise((r) => { resolve = r; });
    globalThis[key] = { ready, resolve };
  }
  return globalThis[key];
}

function initialize({ model }) {
  const key = model.get("key");
  if (typeof key === "string" && key.startsWith("__rlm_page_")) slot(key).resolve(api);
}

export default { initialize };
export { toHtml, renderMarkdown, markdownView };
