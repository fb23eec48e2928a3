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
  }

  /* Reflect a new read / starred state on an item and on its buttons. */
  function showState(item, name, on) {
    var cls = name === "read" ? "unread" : "starred";
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
