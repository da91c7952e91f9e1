// hxchat's only script of its own: the message box (Enter sends, Shift+Enter
// breaks the line, an Enter that confirms an IME composition never sends, it
// empties only when the message was accepted; it grows with its text by CSS
// field-sizing, so no inline style is needed under the CSP) and
// following the conversation to its newest line. htmx does everything else.
(() => {
  "use strict";

  const log = () => document.getElementById("log");

  // Follow the answer while the reader is at the bottom; stop following when
  // they scroll up to read.
  let follow = true;
  function atBottom() {
    const el = document.scrollingElement;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }
  function toBottom() {
    const el = document.scrollingElement;
    el.scrollTop = el.scrollHeight;
  }
  window.addEventListener("scroll", () => { follow = atBottom(); }, { passive: true });

  document.addEventListener("keydown", (e) => {
    const ta = e.target;
    if (!(ta instanceof HTMLTextAreaElement) || ta.id !== "message") return;
    if (e.key !== "Enter" || e.shiftKey || e.altKey) return;
    // IME: the Enter that confirms a composition is not a send. Safari fires
    // that keydown after compositionend, with keyCode 229.
    if (e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    if (ta.value.trim() !== "") ta.form.requestSubmit();
  });

  document.addEventListener("htmx:after:request", (e) => {
    const ctx = e.detail && e.detail.ctx;
    if (!ctx || !e.target || e.target.id !== "composer") return;
    if (ctx.response && ctx.response.status < 400) {
      e.target.reset();
      follow = true;
    }
  });

  document.addEventListener("htmx:after:swap", () => {
    if (follow) toBottom();
  });

  // The conversation list folds into a menu on small screens.
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest(".menu-toggle");
    if (!b) return;
    const open = b.getAttribute("aria-expanded") !== "true";
    b.setAttribute("aria-expanded", String(open));
    b.closest(".sidebar").classList.toggle("open", open);
  });

  document.addEventListener("DOMContentLoaded", () => {
    if (log()) toBottom();
  });
})();
