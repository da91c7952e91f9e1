// hxchat's only script of its own. htmx does the requests and the swaps;
// this file does what HTML cannot:
//   - the message box: Enter sends, Shift+Enter breaks the line, and an Enter
//     that confirms an IME composition never sends; it empties only when the
//     message was accepted (it grows with its text by CSS field-sizing);
//   - Send becomes Stop while an answer is being written;
//   - the view follows a growing answer unless the reader scrolled up, and
//     then offers a "jump to latest" button;
//   - the theme switch, the phone menu, Copy buttons and local times;
//   - keyboard: Escape cancels a rename or an edit and closes the phone
//     menu, Ctrl/Cmd+Enter sends an edit, focus comes back after a save;
//   - relative times, the demo banner's close button, a conversation's ⋯.
(() => {
  "use strict";

  const $ = (sel, root = document) => root.querySelector(sel);

  // --- The answer's stream ---------------------------------------------------
  // Each step of an answer extends what the reader was shown (the server's
  // markdown.Op, which says the same in Go): the swap "md" steps down to
  // the element at path p (each number counts element children from the
  // last), removes its last c child nodes and t characters (UTF-16 code
  // units) of its last text, then appends the new nodes, a leading text
  // joining the last one. Nodes already shown stay as they are, so a
  // selection in a growing code block survives the next tokens.
  htmx.registerExtension("hxchat-md", {
    handle_swap(style, target, fragment, spec) {
      if (style !== "md") return false;
      let el = target;
      for (const n of String(spec.p ?? "").split("-")) {
        if (n === "" || !el) continue;
        let k = Number(n), c = el.lastElementChild;
        while (c && k-- > 0) c = c.previousElementSibling;
        el = c;
      }
      if (!el) return true; // out of step: the next snapshot mends it
      for (let c = spec.c | 0; c > 0 && el.lastChild; c--) el.lastChild.remove();
      const t = spec.t | 0, last = el.lastChild;
      if (t > 0 && last && last.nodeType === Node.TEXT_NODE) {
        if (t >= last.length) last.remove();
        else last.deleteData(last.length - t, t);
      }
      const first = fragment.firstChild, end = el.lastChild;
      if (first && first.nodeType === Node.TEXT_NODE && end && end.nodeType === Node.TEXT_NODE) {
        end.appendData(first.data);
        first.remove();
      }
      el.append(fragment);
      return true;
    },
  });

  // --- Following the answer -------------------------------------------------
  let follow = true;
  const scroller = () => document.scrollingElement;
  const atBottom = () => {
    const el = scroller();
    return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  };
  let leftAt = 0; // scrollTop where toBottom left the view
  const toBottom = () => {
    scroller().scrollTop = scroller().scrollHeight;
    leftAt = scroller().scrollTop;
  };
  function showJump(show) {
    const b = $(".jump");
    if (b) b.hidden = !show;
  }
  // The view stops following when the reader scrolls up from where it was
  // left, not when the answer grew under it before the next frame moves it.
  window.addEventListener("scroll", () => {
    if (atBottom()) {
      follow = true;
      showJump(false);
    } else if (scroller().scrollTop + 48 < leftAt) {
      follow = false;
    }
  }, { passive: true });

  // --- The message box ------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    const ta = e.target;
    if (!(ta instanceof HTMLTextAreaElement) || ta.id !== "message") return;
    if (e.key !== "Enter" || e.shiftKey || e.altKey) return;
    if (touchTyping()) return; // a soft keyboard's Enter breaks the line
    // IME: the Enter that confirms a composition is not a send. Safari fires
    // that keydown after compositionend, with keyCode 229.
    if (e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    if (ta.value.trim() !== "" && !ta.form.classList.contains("busy")) ta.form.requestSubmit();
  });

  document.addEventListener("htmx:after:request", (e) => {
    const ctx = e.detail && e.detail.ctx;
    if (!ctx || !e.target || e.target.id !== "composer") return;
    if (ctx.response && ctx.response.status < 400) {
      e.target.reset();
      follow = true;
    }
  });

  // --- Send becomes Stop ------------------------------------------------------
  // The running answer's own Stop button (kept in its bubble, hidden) is what
  // the message box's Stop presses.
  function liveStop() { return $(".msg.state-streaming .stop"); }
  function syncComposer() {
    const form = $("#composer");
    if (!form) return;
    const busy = liveStop() !== null;
    form.classList.toggle("busy", busy);
    const send = $(".send", form), stop = $(".stop-send", form);
    if (send) send.hidden = busy;
    if (stop) stop.hidden = !busy;
  }
  document.addEventListener("click", (e) => {
    if (!e.target.closest) return;
    if (e.target.closest(".stop-send")) {
      const b = liveStop();
      if (b) b.click();
      return;
    }
    if (e.target.closest(".jump")) {
      follow = true;
      toBottom();
      showJump(false);
      return;
    }
    const menu = e.target.closest(".menu-toggle");
    if (menu) {
      const open = menu.getAttribute("aria-expanded") !== "true";
      menu.setAttribute("aria-expanded", String(open));
      menu.closest(".sidebar").classList.toggle("open", open);
      return;
    }
    const theme = e.target.closest(".theme");
    if (theme) {
      const order = ["", "light", "dark"];
      const next = order[(order.indexOf(document.documentElement.dataset.theme || "") + 1) % order.length];
      if (next) document.documentElement.dataset.theme = next;
      else delete document.documentElement.dataset.theme;
      document.cookie = "hxchat_theme=" + next + "; path=/; max-age=" + (next ? 34560000 : 0) + "; samesite=lax";
      theme.textContent = theme.dataset[next || "system"];
      return;
    }
    const copy = e.target.closest("[data-copy]");
    if (copy) copyFrom(copy);
  });

  // The language switch comes back to the page as it is now (htmx may have
  // changed its address since it was rendered).
  document.addEventListener("submit", (e) => {
    if (e.target.matches && e.target.matches("form.lang")) e.target.elements.next.value = location.pathname;
  });

  // --- Copy -----------------------------------------------------------------
  // A code block's Copy copies its code; a message's Copy copies its Markdown
  // source, fetched from the server (ClipboardItem takes the promise, so the
  // click's permission holds in Safari too).
  function copyFrom(btn) {
    let data;
    if (btn.dataset.copy) {
      data = fetch(btn.dataset.copy, { credentials: "same-origin" }).then((r) => {
        if (!r.ok) throw new Error(r.status);
        return r.blob();
      });
    } else {
      const code = $("code", btn.closest(".code"));
      data = Promise.resolve(new Blob([code ? code.textContent : ""], { type: "text/plain" }));
    }
    const done = (ok) => {
      btn.classList.add(ok ? "copied" : "copy-failed");
      if (ok) sayCopied(btn);
      setTimeout(() => btn.classList.remove("copied", "copy-failed"), 1500);
    };
    navigator.clipboard.write([new ClipboardItem({ "text/plain": data })]).then(() => done(true), () => done(false));
  }

  // Code blocks come from the Markdown renderer with an English "Copy";
  // say it in the page's language.
  function localCopyLabels(root) {
    const label = document.body.dataset.copyLabel;
    if (!label) return;
    for (const b of root.querySelectorAll(".md .code-head .copy:not(.l10n)")) {
      b.textContent = label;
      b.classList.add("l10n");
    }
  }

  // --- Local times ----------------------------------------------------------
  function localTimes(root) {
    const fmt = new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "medium", timeStyle: "short" });
    for (const t of root.querySelectorAll("time[datetime]:not([title])")) {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.title = fmt.format(d);
    }
  }

  // --- Versions -------------------------------------------------------------
  // ‹ and › of a message's versions replace the log with another branch.
  // The focus, lost with the button pressed, goes to the same button of the
  // version shown (or the other one, if that end is reached), and the view
  // stays on it instead of following the end of the log.
  let versionFocus = null;
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest(".versions .version");
    const m = b && (b.getAttribute("hx-post") || "").match(/\/m\/(\d+)\/show$/);
    if (!m) return;
    versionFocus = { id: "m" + m[1], dir: b.dataset.version };
    follow = false;
  });
  function focusVersion() {
    const group = versionFocus && document.querySelector("#" + versionFocus.id + " .versions");
    if (!group) return;
    const b = group.querySelector('.version[data-version="' + versionFocus.dir + '"]:not(:disabled)') ||
      group.querySelector(".version:not(:disabled)");
    versionFocus = null;
    if (b) b.focus();
  }

  // --- The reader's time zone -------------------------------------------------
  // The Markdown export writes times in the reader's zone, which the page
  // tells the server in a cookie (an IANA name such as Asia/Tokyo).
  function rememberTimeZone() {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz) document.cookie = "hxchat_tz=" + encodeURIComponent(tz) + "; path=/; max-age=34560000; samesite=lax";
  }
  rememberTimeZone();

  // --- When hxchat cannot be reached -----------------------------------------
  // A message that could not be sent (no response at all: the server is down
  // or the network is) stays in the box, and the reason shows beside it; the
  // next accepted message clears it (the server's answer empties #alert).
  function composerUnreachable(e) {
    const form = e.target;
    if (!form || form.id !== "composer") return;
    const ctx = e.detail && e.detail.ctx;
    if (ctx && ctx.response) return; // the server answered: it says why itself
    const alert = $("#alert", form);
    if (!alert) return;
    const p = document.createElement("p");
    p.className = "unreachable";
    p.textContent = form.dataset.unreachable || "";
    alert.replaceChildren(p);
  }
  document.addEventListener("htmx:error", composerUnreachable);

  // An answer's stream that dropped says that it reconnects (htmx's SSE
  // extension retries by itself, with Last-Event-ID) until it is back.
  function streamReconnecting(e, on) {
    const art = e.target && e.target.closest && e.target.closest(".msg.state-streaming");
    if (!art) return;
    if (on && e.type === "htmx:sse:before:connection" && !(e.detail && e.detail.connection && e.detail.connection.attempt > 0)) return;
    art.classList.toggle("reconnecting", on);
    const st = $(".reconnect-status", art);
    if (st) st.hidden = !on;
  }
  document.addEventListener("htmx:sse:error", (e) => streamReconnecting(e, true));
  document.addEventListener("htmx:sse:before:connection", (e) => streamReconnecting(e, true));
  document.addEventListener("htmx:sse:after:connection", (e) => streamReconnecting(e, false));
  document.addEventListener("htmx:sse:after:message", (e) => streamReconnecting(e, false));

  // --- Search while an IME composes -----------------------------------------
  // The sidebar's search asks the server at each input; while an IME
  // composition is open the text is not what the user means yet, so those
  // inputs do not reach htmx, and the end of the composition searches.
  function searchComposing(e) {
    const box = e.target;
    if (!(box instanceof HTMLInputElement) || !box.classList.contains("search")) return;
    if (e.type === "compositionstart") box.dataset.composing = "1";
    else if (e.type === "compositionend") {
      delete box.dataset.composing;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    } else if (box.dataset.composing || e.isComposing) e.stopImmediatePropagation();
  }
  for (const type of ["compositionstart", "compositionend", "input"]) {
    document.addEventListener(type, searchComposing, true);
  }

  // --- Countdowns ----------------------------------------------------------
  // "Retry in 5 s": the server renders the seconds left (also after a
  // reload, from the stored deadline); the page counts them down and, at 0,
  // says what the sentence's data-done says instead.
  let ticking = 0;
  function countdowns(root) {
    let found = false; // this runs at every token: look at the new nodes only
    for (const c of root.querySelectorAll(".countdown .count[data-left]:not([data-until])")) {
      c.dataset.until = String(Date.now() + Number(c.dataset.left) * 1000);
      found = true;
    }
    if (found && !ticking) ticking = setInterval(tick, 250);
  }
  function tick() {
    const counts = document.querySelectorAll(".countdown .count[data-until]");
    for (const c of counts) {
      const left = Math.ceil((Number(c.dataset.until) - Date.now()) / 1000);
      if (left > 0) {
        if (c.textContent !== String(left)) c.textContent = String(left);
      } else {
        const s = c.closest(".countdown");
        s.textContent = s.dataset.done;
      }
    }
    if (counts.length === 0) {
      clearInterval(ticking);
      ticking = 0;
    }
  }

  // --- Typing on a phone, and drafts ---------------------------------------
  // Soft keyboards have no Shift+Enter: on a touch screen Enter breaks the
  // line and the Send button sends; the placeholder says so.
  const coarse = window.matchMedia("(pointer: coarse)");
  function touchTyping() { return coarse.matches; }
  function touchPlaceholder(ta) {
    if (!ta) return;
    if (!ta.dataset.placeholderDesktop) ta.dataset.placeholderDesktop = ta.placeholder;
    ta.placeholder = touchTyping() ? ta.dataset.placeholderTouch || ta.placeholder : ta.dataset.placeholderDesktop;
  }
  coarse.addEventListener("change", () => touchPlaceholder($("#message")));
  // A new conversation's composer is morphed from the new chat's one (the
  // same element, its attributes replaced): say it again.
  new MutationObserver(() => {
    const ta = $("#message");
    if (ta && touchTyping() && ta.dataset.placeholderTouch && ta.placeholder !== ta.dataset.placeholderTouch) touchPlaceholder(ta);
  }).observe(document.documentElement, { subtree: true, attributeFilter: ["placeholder"] });

  // What is typed in the message box is kept per conversation (in this
  // browser's localStorage) until it is sent: typed while an answer is
  // written, it is still there after a reload.
  function draftKey(form) { return "hxchat:draft:" + form.getAttribute("hx-post"); }
  function storeDraft(e) {
    const ta = e.target;
    if (!(ta instanceof HTMLTextAreaElement) || ta.id !== "message" || !ta.form) return;
    try {
      if (ta.value.trim() === "") localStorage.removeItem(draftKey(ta.form));
      else localStorage.setItem(draftKey(ta.form), ta.value);
    } catch (_) { /* storage full or off: the box still holds the text */ }
  }
  function restoreDraft(ta) {
    if (ta.value !== "" || !ta.form) return;
    try {
      const d = localStorage.getItem(draftKey(ta.form));
      if (d) ta.value = d;
    } catch (_) { /* no storage: no draft */ }
  }
  function dropDraft(e) {
    const ctx = e.detail && e.detail.ctx;
    if (!ctx || !e.target || e.target.id !== "composer") return;
    if (ctx.response && ctx.response.status < 400) {
      try { localStorage.removeItem(draftKey(e.target)); } catch (_) { /* nothing kept */ }
    }
  }
  document.addEventListener("input", storeDraft);
  document.addEventListener("htmx:after:request", dropDraft);

  // --- The size limit ------------------------------------------------------
  // The limit is in bytes (data-max-bytes); past 80 % of it the box says
  // about how many characters are left, or too many, at the rate of bytes
  // per character of the text typed so far (3 for Japanese, 1 for English).
  function sizeCounter(ta) {
    const out = ta.form && $("#counter", ta.form), max = Number(ta.dataset.maxBytes);
    if (!out || !max) return;
    const bytes = new TextEncoder().encode(ta.value).length;
    const over = bytes > max;
    out.hidden = bytes <= max * 0.8;
    out.classList.toggle("over", over);
    if (out.hidden) return;
    const per = Math.max(bytes / Math.max([...ta.value].length, 1), 1);
    const n = over ? Math.ceil((bytes - max) / per) : Math.floor((max - bytes) / per);
    const fmt = new Intl.NumberFormat(document.documentElement.lang);
    out.textContent = (over ? out.dataset.over : out.dataset.left).replace("{n}", fmt.format(n));
  }
  document.addEventListener("input", (e) => {
    if (e.target instanceof HTMLTextAreaElement && e.target.id === "message") sizeCounter(e.target);
  });
  document.addEventListener("htmx:after:request", () => {
    const ta = $("#message");
    if (ta) sizeCounter(ta); // emptied once sent
  });

  // What a part of the page that appears (an element) may need: countdowns
  // to start, and in a new composer its placeholder, draft and counter.
  function prepareAdded(n) {
    if (!n.firstElementChild) return; // most tokens: a leaf (a word, a highlighted span)
    countdowns(n);
    const ta = n.querySelector("#message"); // in a page, a composer
    if (!ta) return;
    touchPlaceholder(ta);
    restoreDraft(ta);
    sizeCounter(ta);
  }

  // --- After every change of the page --------------------------------------
  // One observer (its callbacks are batched by the browser): swaps of the
  // answer's stream happen on elements that may already be gone, so htmx's
  // own events do not always reach the document.
  // Only what was added is looked at: this runs at every token. What reads
  // the layout (the scroll position) waits for the next frame, so that a
  // token never forces a layout of its own.
  let framed = false;
  function changed(records) {
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (n.nodeType !== Node.ELEMENT_NODE) continue;
        localTimes(n);
        relativeTimes(n);
        localCopyLabels(n);
        prepareAdded(n);
      }
    }
    if (versionFocus) focusVersion();
    if (!framed) {
      framed = true;
      requestAnimationFrame(frame);
    }
  }
  function frame() {
    framed = false;
    syncComposer();
    // The reader may have scrolled up since the view was last moved, before
    // the scroll event says so.
    if (follow && scroller().scrollTop + 48 < leftAt) follow = false;
    if (follow) toBottom();
    else if (liveStop()) showJump(true);
  }
  document.addEventListener("DOMContentLoaded", () => {
    changed([{ addedNodes: [document.body] }]);
    if ($("#log")) toBottom();
    new MutationObserver(changed).observe(document.body, { childList: true, subtree: true });
  });
  // --- Keyboard ------------------------------------------------------------
  // Escape cancels a rename or an edit (as its Cancel button does) and closes
  // the phone menu; Ctrl/Cmd+Enter sends an edited question.
  document.addEventListener("keydown", (e) => {
    if (e.isComposing || e.keyCode === 229 || !(e.target instanceof Element)) return;
    if (e.key === "Escape") onEscape(e);
    else if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.matches(".edit textarea")) {
      e.preventDefault();
      e.target.form.requestSubmit();
    }
  });
  function onEscape(e) {
    const cancel = e.target.closest(".renaming, .editing")?.querySelector("button[type=button][hx-get]");
    if (cancel) {
      e.preventDefault();
      cancel.click();
      return;
    }
    const more = e.target.closest(".conv.show-actions");
    if (more) {
      $(".conv-more", more).click();
      $(".conv-more", more).focus();
      return;
    }
    const menu = $(".sidebar.open .menu-toggle");
    if (menu && menu.offsetParent !== null) {
      menu.click();
      menu.focus();
    }
  }

  // After a rename or an edit is saved or cancelled, its form is swapped out
  // (and the focus with it): the focus goes back to the renamed item or the
  // edited bubble.
  document.addEventListener("submit", (e) => focusAfterSwap(e.target));
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest(".renaming button[type=button], .editing button[type=button]");
    if (b) focusAfterSwap(b);
  });
  function focusAfterSwap(el) {
    const form = el.closest && el.closest(".renaming, .editing");
    if (!form) return;
    const id = form.id, editing = form.classList.contains("editing");
    const obs = new MutationObserver(() => {
      if (form.isConnected) return;
      let to = document.getElementById(id);
      if (editing && !to) {
        const users = document.querySelectorAll("#log .msg.user");
        to = users[users.length - 1];
      }
      if (!to) return; // removed, not yet replaced
      obs.disconnect();
      if (!editing) to = $("a", to); // a message takes the focus itself (tabindex -1)
      if (to) to.focus();
    });
    obs.observe(document.body, { childList: true, subtree: true });
    setTimeout(() => obs.disconnect(), 15000);
  }

  // A rename field opens with the old title selected, ready to be replaced.
  document.addEventListener("focusin", (e) => {
    const i = e.target;
    if (i instanceof HTMLInputElement && i.matches(".renaming input[name=title]") && !i.dataset.selected) {
      i.dataset.selected = "1";
      i.select();
    }
  });

  // --- Sidebar on touch screens --------------------------------------------
  // Without hover, a conversation's ✎ and × are behind its ⋯ button.
  document.addEventListener("click", (e) => {
    const more = e.target.closest && e.target.closest(".conv-more");
    if (!more) return;
    const li = more.closest(".conv"), open = !li.classList.contains("show-actions");
    for (const o of document.querySelectorAll(".conv.show-actions")) {
      o.classList.remove("show-actions");
      $(".conv-more", o).setAttribute("aria-expanded", "false");
    }
    li.classList.toggle("show-actions", open);
    more.setAttribute("aria-expanded", String(open));
  });

  // --- The demo banner -----------------------------------------------------
  // Dismissed once, it stays away (a cookie the server reads).
  document.addEventListener("click", (e) => {
    const close = e.target.closest && e.target.closest(".banner-close");
    if (!close) return;
    close.closest(".banner").remove();
    document.cookie = "hxchat_banner=hidden; path=/; max-age=34560000; samesite=lax";
    const box = $("#message") || $("#main");
    if (box) box.focus();
  });

  // --- Copied --------------------------------------------------------------
  // A Copy button says "Copied" for a moment.
  function sayCopied(btn) {
    const label = document.body.dataset.copiedLabel;
    if (!label || btn.dataset.was) return;
    btn.dataset.was = btn.textContent;
    btn.textContent = label;
    setTimeout(() => {
      btn.textContent = btn.dataset.was;
      delete btn.dataset.was;
    }, 1500);
  }

  // --- Relative times ------------------------------------------------------
  // A message's time says how long ago, in the page's language ("2 minutes
  // ago", "2 分前"); its title has the full local date (localTimes). The
  // server writes the time in UTC for a page without script.
  function relativeTimes(root) {
    const lang = document.documentElement.lang || "en";
    const rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    const now = Date.now();
    const times = root.matches && root.matches("time[datetime]") ? [root] : root.querySelectorAll("time[datetime]");
    for (const t of times) {
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) continue;
      // The text node's data changes, so that the log (aria-live, for
      // additions) does not read a time out at every update.
      const text = ago(rtf, lang, d, now), n = t.firstChild;
      if (n && n.nodeType === Node.TEXT_NODE && !n.nextSibling) {
        if (n.data !== text) n.data = text;
      } else t.textContent = text;
    }
  }
  function ago(rtf, lang, d, now) {
    const s = Math.round((d - now) / 1000), a = Math.abs(s);
    if (a < 45) return rtf.format(0, "second");
    if (a < 45 * 60) return rtf.format(Math.round(s / 60), "minute");
    if (a < 22 * 3600) return rtf.format(Math.round(s / 3600), "hour");
    if (a < 6 * 86400) return rtf.format(Math.round(s / 86400), "day");
    return new Intl.DateTimeFormat(lang, { dateStyle: "medium" }).format(d);
  }
  setInterval(() => relativeTimes(document), 30000);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) relativeTimes(document);
  });
})();
