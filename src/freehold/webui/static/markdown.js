// Markdown to safe DOM: marked renders, DOMPurify removes anything that could run
// (scripts, on* handlers, javascript: URLs) before the HTML reaches the page.
"use strict";

window.renderMarkdown = function renderMarkdown(element, text) {
  const html = window.marked.parse(text, { gfm: true, breaks: true, async: false });
  element.innerHTML = window.DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
  for (const link of element.querySelectorAll("a[href]")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
};
