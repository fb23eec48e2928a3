/* The dashboard's only script: progressive enhancement of server-rendered pages.
 *
 * Every feature works without it (links and POST forms); with it, articles open
 * inline, read/star buttons update in place, and the keyboard drives everything.
 * State changes are POSTs carrying the CSRF token from <meta name="csrf-token">
 * in the X-CSRFToken header (Flask-WTF checks it).
 *
 * Keys live in one map; another feature adds one with
 *   Aggregator.registerKey("f", function (item, event) { ... });
 * and a row in aggregator/web/filters.py SHORTCUTS for the help overlay.
 */
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var current = -1;
  var pendingG = false;
  var pendingTimer = null;
  var lastFocus = null;

  function post(url, fields) {
    var body = new URLSearchParams(fields || {});
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
      body: body,
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    });
  }

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-entry-id]"));
  }

  function itemAt(index) {
    return items()[index] || null;
  }

  function currentItem() {
    var list = items();
    if (current >= 0 && current < list.length) {
      return list[current];
    }
    return list.length === 1 && list[0].hasAttribute("data-open-page") ? list[0] : null;
  }

  function select(index) {
    var list = items();
    if (!list.length) {
      return;
    }
    index = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (el) {
      el.classList.remove("current");
    });
    current = index;
    var item = list[index];
    item.classList.add("current");
    var link = item.querySelector("[data-open]");
    if (link) {
      link.focus({ preventScroll: true });
    }
    item.scrollIntoView({ block: "nearest" });
  }

  function updateCounts(counts) {
    if (!counts) {
      return;
    }
    document.querySelectorAll("[data-count-tab]").forEach(function (badge) {
      var n = counts[badge.getAttribute("data-count-tab")] || 0;
      var number = badge.querySelector("[data-count]");
      if (number) {
        number.textContent = String(n);
      }
      badge.hidden = n === 0;
    });
    /* the page title starts with its river's unread count: « (3) Emplois · … » */
    var title = document.querySelector("title[data-count-scope]");
    if (title) {
      var count = counts[title.getAttribute("data-count-scope")] || 0;
      document.title = (count ? "(" + count + ") " : "") + document.title.replace(/^\(\d+\) /, "");
    }
  }

  /* Reflect a new read / starred state on an item and on its buttons. */
  /* A widget's unread count follows what is read or unread in place (a preview, `m`). */
  function adjustWidgetCount(item, step) {
    var widget = item.closest(".widget");
    var badge = widget && widget.querySelector("[data-widget-count]");
    if (!badge) {
      return;
    }
    var number = badge.querySelector("[data-count]");
    var n = Math.max(0, (parseInt(number.textContent, 10) || 0) + step);
    number.textContent = String(n);
    var label = badge.querySelector("[data-count-label]");
    if (label) {
      var form = label.getAttribute(n === 1 ? "data-one" : "data-many") || "";
      label.textContent = form.replace(/\d+/, String(n));
    }
    badge.hidden = n === 0;
  }

  function showState(item, name, on) {
    var cls = name === "read" ? "unread" : "starred";
    if (name === "read" && (item.getAttribute("data-read") === "1") !== on) {
      adjustWidgetCount(item, on ? -1 : 1);
    }
    item.setAttribute("data-" + name, on ? "1" : "0");
    item.classList.toggle(cls, name === "read" ? !on : on);
    var form = item.querySelector('form[data-action="' + (name === "read" ? "read" : "star") + '"]');
    if (!form) {
      return;
    }
    var field = form.querySelector('input[name="' + (name === "read" ? "read" : "starred") + '"]');
    if (field) {
      field.value = on ? "0" : "1";
    }
    var button = form.querySelector("button");
    var label = button.getAttribute(on ? "data-label-on" : "data-label-off");
    var text = button.querySelector(".label");
    (text || button).textContent = label;
    if (name === "starred") {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      var icon = button.querySelector(".star-icon");
      if (icon) {
        icon.textContent = on ? "★" : "☆";
      }
    }
  }

  function setRead(item, read) {
    var id = item.getAttribute("data-entry-id");
    showState(item, "read", read);
    return post("/entry/" + id + "/read", { read: read ? "1" : "0" })
      .then(function (data) {
        updateCounts(data.unread_counts);
      })
      .catch(function () {
        showState(item, "read", !read);
      });
  }

  function toggleRead(item) {
    if (item) {
      setRead(item, item.getAttribute("data-read") !== "1");
    }
  }

  function toggleStar(item) {
    if (!item) {
      return;
    }
    var id = item.getAttribute("data-entry-id");
    var starred = item.getAttribute("data-starred") !== "1";
    showState(item, "starred", starred);
    post("/entry/" + id + "/star", { starred: starred ? "1" : "0" }).catch(function () {
      showState(item, "starred", !starred);
    });
  }

  /* Open inline when the article carries its content (river), else go to its page. */
  function toggleOpen(item) {
    if (!item) {
      return;
    }
    var template = item.querySelector("template.entry-content");
    var body = item.querySelector(".entry-body");
    var link = item.querySelector("[data-open]");
    if (!template || !body) {
      if (link && !item.hasAttribute("data-open-page")) {
        window.location.href = link.href;
      }
      return;
    }
    var opening = body.hidden;
    if (opening && !body.hasChildNodes()) {
      body.appendChild(document.importNode(template.content, true));
    }
    body.hidden = !opening;
    item.classList.toggle("open", opening);
    if (link) {
      link.setAttribute("aria-expanded", opening ? "true" : "false");
    }
    if (opening && item.getAttribute("data-read") !== "1") {
      setRead(item, true);
    }
  }

  function focusSearch() {
    var box = document.querySelector("[data-search]");
    if (box) {
      box.focus();
      box.select();
    }
  }

  function goToTab(digit) {
    var link = document.querySelector('[data-tab-index="' + digit + '"]');
    if (link) {
      window.location.href = link.href;
    }
  }

  function helpBox() {
    return document.getElementById("help");
  }

  function toggleHelp(show) {
    var box = helpBox();
    if (!box) {
      return;
    }
    var open = typeof show === "boolean" ? show : box.hidden;
    if (open) {
      lastFocus = document.activeElement;
      box.hidden = false;
      var close = box.querySelector("[data-help-close]");
      if (close) {
        close.focus();
      }
    } else {
      box.hidden = true;
      if (lastFocus && lastFocus.focus) {
        lastFocus.focus();
      }
    }
  }

  function indexOf(item) {
    return items().indexOf(item);
  }

  /* The key map: key -> function(currentItem, event). */
  var keys = new Map();

  function registerKey(key, handler) {
    keys.set(key, handler);
  }

  registerKey("j", function () {
    select(current + 1);
  });
  registerKey("k", function () {
    select(current < 0 ? 0 : current - 1);
  });
  registerKey("o", function (item) {
    toggleOpen(item);
  });
  registerKey("Enter", function (item) {
    toggleOpen(item);
  });
  registerKey("m", toggleRead);
  registerKey("s", toggleStar);
  registerKey("/", focusSearch);
  registerKey("?", function () {
    toggleHelp();
  });
  registerKey("g", function () {
    pendingG = true;
    clearTimeout(pendingTimer);
    pendingTimer = setTimeout(function () {
      pendingG = false;
    }, 1500);
  });

  function typingIn(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && helpBox() && !helpBox().hidden) {
      toggleHelp(false);
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) {
      return;
    }
    if (document.querySelector("dialog[open]")) {
      return; /* a modal panel (forward.js) owns the keyboard while it is open */
    }
    if (pendingG) {
      pendingG = false;
      if (/^[0-9]$/.test(event.key)) {
        event.preventDefault();
        goToTab(event.key);
        return;
      }
    }
    if (event.key === "Enter") {
      /* Links and buttons handle Enter themselves (the title link opens inline). */
      var tag = event.target.tagName ? event.target.tagName.toLowerCase() : "";
      if (tag === "a" || tag === "button" || tag === "summary") {
        return;
      }
    }
    var handler = keys.get(event.key);
    if (!handler) {
      return;
    }
    event.preventDefault();
    handler(currentItem(), event);
  });

  /* Clicks: title links open inline (a plain left click only; middle / ctrl-click
     still opens the article's own page), read/star forms post in place. */
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest("[data-help-open]")) {
      toggleHelp(true);
      return;
    }
    if (target.closest("[data-help-close]") || target === helpBox()) {
      toggleHelp(false);
      return;
    }
    var link = target.closest("[data-open]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
      return;
    }
    var item = link.closest("[data-entry-id]");
    if (item && item.querySelector("template.entry-content")) {
      event.preventDefault();
      var i = indexOf(item);
      if (i !== current) {
        select(i);
      }
      toggleOpen(item);
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var action = form.getAttribute("data-action");
    var item = form.closest("[data-entry-id]");
    if (!action || !item) {
      return;
    }
    event.preventDefault();
    if (action === "read") {
      toggleRead(item);
    } else if (action === "star") {
      toggleStar(item);
    }
  });

  /* A widget's « Vue étendue » button (issue 9): remembered by the server, then the
     widget's headlines are swapped in place from a fresh copy of this page. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-widget-view")) {
      return;
    }
    var widget = form.closest(".widget");
    var button = form.querySelector("button");
    var feed = form.elements.feed.value;
    var view = form.elements.view.value;
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") {
      return; // a double click waits for the first answer (disabling would drop focus)
    }
    form.setAttribute("aria-busy", "true");
    post(form.getAttribute("action"), { feed: feed, view: view })
      .then(function () {
        return fetchDocument(window.location.href);
      })
      .then(function (doc) {
        var fresh = Array.prototype.filter.call(doc.querySelectorAll(".widget[data-feed]"), function (w) {
          return w.getAttribute("data-feed") === feed;
        })[0];
        var lines = fresh && fresh.querySelector(".headlines");
        if (lines) {
          widget.querySelector(".headlines").replaceWith(document.importNode(lines, true));
        }
        var extended = view === "extended";
        widget.classList.toggle("widget-extended", extended);
        button.setAttribute("aria-pressed", extended ? "true" : "false");
        form.elements.view.value = extended ? "compact" : "extended";
      })
      .catch(function () {
        form.submit(); // the page way: the server still knows how
      })
      .then(function () {
        form.removeAttribute("aria-busy");
      });
  });

  /* GET a page of ours and parse it: a promise of a Document (rejects on HTTP errors). */
  function fetchDocument(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        return new DOMParser().parseFromString(html, "text/html");
      });
  }

  /* "More articles": fetch the next page and append it when the link comes near. */
  function loadMore(link) {
    if (link.getAttribute("data-loading")) {
      return;
    }
    link.setAttribute("data-loading", "1");
    fetchDocument(link.href)
      .then(function (doc) {
        var river = document.querySelector("[data-river]");
        var more = doc.querySelector("[data-river]");
        if (!river || !more) {
          throw new Error("no river");
        }
        Array.prototype.slice.call(more.children).forEach(function (child) {
          if (child.hasAttribute("data-entry-id")) {
            river.appendChild(document.adoptNode(child));
          }
        });
        var pager = link.closest(".pager");
        var nextPager = doc.querySelector(".pager");
        if (nextPager) {
          pager.replaceWith(document.adoptNode(nextPager));
          watchMore();
        } else {
          pager.remove();
        }
      })
      .catch(function () {
        link.removeAttribute("data-loading");
      });
  }

  var observer = null;
  function watchMore() {
    var link = document.querySelector("[data-more]");
    if (!link || !("IntersectionObserver" in window)) {
      return;
    }
    if (!observer) {
      observer = new IntersectionObserver(
        function (entries) {
          entries.forEach(function (entry) {
            if (entry.isIntersecting) {
              observer.unobserve(entry.target);
              loadMore(entry.target);
            }
          });
        },
        { rootMargin: "600px" }
      );
    }
    observer.observe(link);
  }

  function init() {
    var page = document.querySelector("[data-open-page]");
    if (page && page.getAttribute("data-autoread") === "1") {
      page.setAttribute("data-autoread", "0");
      setRead(page, true);
    }
    watchMore();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }

  window.Aggregator = {
    registerKey: registerKey,
    keys: keys,
    post: post,
    fetchDocument: fetchDocument,
    currentItem: currentItem,
    select: select,
    toggleOpen: toggleOpen,
    setRead: setRead,
    updateCounts: updateCounts,
  };
})();

/* Adding and managing feeds (issue 8): the pages work as plain forms; this only hides
 * the "new tab" name field until "New tab…" is chosen, and says "Searching…" on the
 * button while a slow site is being looked at (the request itself is the server's). */
(function () {
  "use strict";

  function syncNewTab(select) {
    var form = select.form;
    if (!form) {
      return;
    }
    var isNew = select.value === "";
    form.querySelectorAll("[data-new-tab]").forEach(function (el) {
      el.hidden = !isNew;
    });
  }

  function init() {
    document.querySelectorAll("[data-new-tab-select]").forEach(syncNewTab);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-new-tab-select")) {
      syncNewTab(target);
      if (target.value === "") {
        var input = target.form && target.form.querySelector("input[data-new-tab]");
        if (input) {
          input.focus();
        }
      }
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) {
      return;
    }
    var button = form.querySelector("button[data-busy-label]");
    if (!button) {
      return;
    }
    form.setAttribute("aria-busy", "true");
    // After the submission started: a disabled button would not be sent with the form.
    setTimeout(function () {
      button.textContent = button.getAttribute("data-busy-label");
      button.disabled = true;
    }, 0);
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

/* Reading comfort (issue 10): « N nouveaux articles » from a light poll of /counts,
 * mark-as-read on scroll (settings.display.mark_read_on_scroll), a widget's headline
 * opened in place under its widget (with « Ça pourrait t'intéresser »), and the keys
 * Esc (close the article), v (open the original), A (mark all as read, with the same
 * « Annuler » as the button) and r (refresh). Words come from the server. */
(function () {
  "use strict";

  var A = window.Aggregator;
  if (!A) {
    return;
  }
  var POLL_MS = 60000;
  var pollTimer = null;

  function scope() {
    return document.querySelector("[data-poll-after]");
  }

  function poll() {
    var el = scope();
    if (!el) {
      return Promise.resolve(null);
    }
    var params = new URLSearchParams({ after: el.getAttribute("data-poll-after") || "0" });
    if (el.getAttribute("data-poll-tab")) {
      params.set("tab", el.getAttribute("data-poll-tab"));
    }
    if (el.getAttribute("data-poll-feed")) {
      params.set("feed", el.getAttribute("data-poll-feed"));
    }
    return fetch("/counts?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!data) {
          return null;
        }
        A.updateCounts(data.unread_counts);
        var bar = document.querySelector("[data-new-articles]");
        if (bar && data.new > 0) {
          bar.querySelector("[data-new-articles-link]").textContent = data.label;
          bar.hidden = false;
        }
        return data;
      })
      .catch(function () {
        return null;
      });
  }

  function schedule() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      if (document.visibilityState !== "hidden") {
        poll();
      }
      schedule();
    }, POLL_MS);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      poll();
    }
  });

  /* --- mark as read on scroll ------------------------------------------------ */

  /* On scroll (one check per frame): every unread item whose bottom went above the
     top of the screen was scrolled past. A scan rather than an IntersectionObserver:
     a jump (End, a link to an anchor) skips items that never intersected. */
  function watchScroll() {
    var river = document.querySelector("[data-river][data-mark-on-scroll]");
    if (!river) {
      return;
    }
    var pending = false;
    function check() {
      pending = false;
      var list = river.querySelectorAll(':scope > [data-entry-id][data-read="0"]');
      for (var i = 0; i < list.length; i++) {
        if (list[i].getBoundingClientRect().bottom > 0) {
          break; /* in page order: the rest is lower */
        }
        A.setRead(list[i], true);
      }
    }
    window.addEventListener(
      "scroll",
      function () {
        if (!pending) {
          pending = true;
          window.requestAnimationFrame(check);
        }
      },
      { passive: true }
    );
  }

  /* --- a headline opened in place, under its widget --------------------------- */

  function closePreview(box) {
    box.hidden = true;
    box.querySelector("[data-preview-body]").replaceChildren();
    var line = box.closest(".widget").querySelector(".headline.previewing");
    if (line) {
      line.classList.remove("previewing");
      var link = line.querySelector("[data-open]");
      link.setAttribute("aria-expanded", "false");
      link.focus();
    }
  }

  function openPreview(line) {
    var widget = line.closest(".widget");
    var box = widget && widget.querySelector("[data-widget-preview]");
    var link = line.querySelector("[data-open]");
    if (!box || !link) {
      return false;
    }
    if (line.classList.contains("previewing")) {
      closePreview(box);
      return true;
    }
    /* read first, so that the article comes back saying so (its buttons too) */
    var marked = line.getAttribute("data-read") !== "1" ? A.setRead(line, true) : Promise.resolve();
    marked
      .then(function () {
        return A.fetchDocument(link.href);
      })
      .then(function (doc) {
        var article = doc.querySelector("article.entry-page");
        if (!article) {
          throw new Error("no article");
        }
        var back = article.querySelector(".back");
        if (back) {
          back.remove();
        }
        article.removeAttribute("data-open-page");
        article.removeAttribute("data-autoread");
        article.classList.add("entry-preview");
        var title = article.querySelector("h1");
        if (title) {
          var h3 = document.createElement("h3");
          h3.className = title.className;
          h3.textContent = title.textContent;
          title.replaceWith(h3);
        }
        widget.querySelectorAll(".headline.previewing").forEach(function (el) {
          el.classList.remove("previewing");
          el.querySelector("[data-open]").setAttribute("aria-expanded", "false");
        });
        var body = box.querySelector("[data-preview-body]");
        body.replaceChildren(document.adoptNode(article));
        box.hidden = false;
        line.classList.add("previewing");
        link.setAttribute("aria-expanded", "true");
        box.querySelector("[data-preview-close]").focus({ preventScroll: true });
        box.scrollIntoView({ block: "nearest" });
      })
      .catch(function () {
        window.location.href = link.href;
      });
    return true;
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
      return;
    }
    var close = event.target.closest("[data-preview-close]");
    if (close) {
      closePreview(close.closest("[data-widget-preview]"));
      return;
    }
    var link = event.target.closest(".headline [data-open]");
    if (link && link.closest(".widget") && openPreview(link.closest(".headline"))) {
      event.preventDefault();
    }
  });

  function openOrPreview(item) {
    if (item && item.classList.contains("headline") && item.closest(".widget")) {
      openPreview(item);
    } else {
      A.toggleOpen(item);
    }
  }
  A.registerKey("o", openOrPreview);
  A.registerKey("Enter", openOrPreview);

  /* --- keys ------------------------------------------------------------------- */

  A.registerKey("Escape", function (item) {
    var box = document.querySelector("[data-widget-preview]:not([hidden])");
    if (box) {
      closePreview(box);
      return;
    }
    var open = item && item.classList.contains("open") ? item : document.querySelector(".entry.open");
    if (open) {
      A.toggleOpen(open);
      var link = open.querySelector("[data-open]");
      if (link) {
        link.focus({ preventScroll: true });
      }
      return;
    }
    var page = document.querySelector("[data-open-page] .back a");
    if (page) {
      window.location.href = page.href;
    }
  });

  A.registerKey("v", function (item) {
    var where = item;
    if (where && where.classList.contains("headline")) {
      where = where.closest(".widget").querySelector("[data-widget-preview]:not([hidden])") || where;
    }
    where = where || document.querySelector(".entry.open, [data-open-page]");
    var original = where && where.querySelector('.entry-actions a[target="_blank"]');
    if (original) {
      window.open(original.href, "_blank", "noopener");
    }
  });

  A.registerKey("A", function () {
    var form = document.querySelector(".toolbar form.mark-all");
    if (form) {
      form.requestSubmit();
    }
  });

  A.registerKey("r", function () {
    var link = document.querySelector("[data-new-articles]:not([hidden]) a");
    if (link) {
      window.location.href = link.href;
    } else {
      window.location.reload();
    }
  });

  function init() {
    watchScroll();
    if (scope()) {
      schedule();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }

  A.pollNow = poll;
})();
