/* « Ça pourrait t'intéresser »: the forward panel, as a progressive enhancement.
 *
 * Without this file every forward button is a link to /entry/<id>/forward, a page
 * whose form works on its own. With it, the same form (fetched with ?fragment=1)
 * opens in a modal <dialog>: focus stays inside, Esc closes it, and focus returns
 * to the button. Choosing contacts switches the default note to English when every
 * chosen contact reads English (unless the note was edited), warns when the item
 * was already sent to one of them (a confirmation box becomes required), previews
 * the email, and sends with fetch(). A toast then counts down the undo window with
 * an « Annuler » button, and the item shows « envoyé à … ».
 *
 * A passage selected in an article (mouse, touch or keyboard) shows « Envoyer cet
 * extrait » next to it; that button, or "f" while the selection lasts, opens the
 * panel with the passage quoted. « Autre contact » matches any part of a name or an
 * address without case or accents: one match is chosen, several are listed, none
 * offers to add the person; the error goes as soon as the text is fixed.
 *
 * Text shown here comes from the server (translated data-* attributes and JSON
 * messages): no words in this file. Keyboard: "f" on the selected item (app.js key
 * map; the help overlay lists it from filters.SHORTCUTS).
 */
(function () {
  "use strict";

  var A = window.Aggregator;
  var dialog = document.querySelector("[data-forward-panel]");
  var toast = document.querySelector("[data-toast]");
  if (!A || !dialog || typeof dialog.showModal !== "function") {
    return; /* the links keep working as pages */
  }
  var body = dialog.querySelector("[data-forward-body]");
  var loading = body.innerHTML;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var opener = null;
  var toastTimer = null;
  var toastHide = null;

  function postForm(url, params) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
      body: params,
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return { error: response.statusText || "HTTP " + response.status };
        })
        .then(function (data) {
          return { status: response.status, ok: response.ok, data: data };
        });
    });
  }

  function showErrors(box, messages) {
    box.replaceChildren();
    messages = (messages || []).filter(Boolean);
    if (!messages.length) {
      box.hidden = true;
      return;
    }
    var list = document.createElement("ul");
    messages.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    });
    box.appendChild(list);
    box.hidden = false;
  }

  function errorsOf(data) {
    if (data.problems) {
      return [data.error].concat(data.problems);
    }
    return data.errors || [data.error];
  }

  /* --- the item's « envoyé à … » label --------------------------------------- */

  function showLabel(entryId, label) {
    document
      .querySelectorAll('[data-entry-id="' + entryId + '"] [data-sent-to]')
      .forEach(function (el) {
        el.textContent = label || "";
        el.hidden = !label;
      });
  }

  /* --- the toast: countdown, « Annuler » ------------------------------------- */

  function hideToast(delay) {
    clearTimeout(toastHide);
    toastHide = setTimeout(function () {
      toast.hidden = true;
    }, delay);
  }

  function showToast(data) {
    if (!toast) {
      return;
    }
    var text = toast.querySelector("[data-toast-text]");
    var cancel = toast.querySelector("[data-toast-cancel]");
    var template = toast.getAttribute("data-countdown");
    var left = data.undo_seconds;
    clearInterval(toastTimer);
    clearTimeout(toastHide);
    function tick() {
      if (left <= 0) {
        clearInterval(toastTimer);
        text.textContent = toast.getAttribute("data-gone");
        cancel.hidden = true;
        hideToast(4000);
        return;
      }
      text.textContent = template.replace("{names}", data.names).replace("{n}", String(left));
      left -= 1;
    }
    cancel.hidden = false;
    cancel.disabled = false;
    cancel.onclick = function () {
      cancel.disabled = true;
      clearInterval(toastTimer);
      var params = new URLSearchParams({ batch: data.batch, entry: String(data.entry_id) });
      postForm("/forwards/cancel", params)
        .then(function (answer) {
          text.textContent = answer.data.message || answer.data.error;
          if ("label" in answer.data) {
            showLabel(data.entry_id, answer.data.label);
          }
        })
        .catch(function () {
          text.textContent = toast.getAttribute("data-failed");
        })
        .then(function () {
          cancel.hidden = true;
          hideToast(5000);
        });
    };
    toast.hidden = false;
    tick();
    toastTimer = setInterval(tick, 1000);
  }

  if (toast) {
    toast.querySelector("[data-toast-close]").addEventListener("click", function () {
      toast.hidden = true;
    });
  }

  /* --- the form ------------------------------------------------------------ */

  function boxes(form) {
    return Array.prototype.slice.call(form.querySelectorAll('input[name="to"]'));
  }

  function chosenBoxes(form) {
    return boxes(form).filter(function (b) {
      return b.checked;
    });
  }

  function noteDefault(form) {
    var chosen = chosenBoxes(form);
    function all(test) {
      return chosen.length > 0 && chosen.every(test);
    }
    if (
      all(function (b) {
        return b.getAttribute("data-language") === "en";
      })
    ) {
      return form.getAttribute("data-default-en");
    }
    if (
      all(function (b) {
        return b.getAttribute("data-formal") === "1" && b.getAttribute("data-language") !== "en";
      })
    ) {
      return form.getAttribute("data-default-formal"); /* « vous » to every one of them */
    }
    return form.getAttribute("data-default-fr");
  }

  /* The subject before any edit: the first chosen contact's tone. */
  function subjectDefault(form) {
    var first = chosenBoxes(form)[0];
    var tone = "fr";
    if (first && first.getAttribute("data-language") === "en") {
      tone = "en";
    } else if (first && first.getAttribute("data-formal") === "1") {
      tone = "formal";
    }
    return form.getAttribute("data-subject-" + tone);
  }

  function subjectDefaults(form) {
    return ["fr", "formal", "en"].map(function (t) {
      return form.getAttribute("data-subject-" + t);
    });
  }

  function countNote(form) {
    var note = form.querySelector("[data-note]");
    var count = form.querySelector("[data-note-count]");
    if (note && count) {
      count.textContent = String(note.value.length);
      var max = parseInt(note.getAttribute("maxlength"), 10);
      count.parentNode.classList.toggle("at-limit", note.value.length >= max);
    }
  }

  /* Recipients changed: default note language, memory of earlier sends. */
  function update(form) {
    var note = form.querySelector("[data-note]");
    if (note && form.getAttribute("data-note-edited") !== "1") {
      note.value = noteDefault(form);
      countNote(form);
    }
    var subject = form.querySelector("[data-subject]");
    if (subject && form.getAttribute("data-subject-edited") !== "1") {
      subject.value = subjectDefault(form);
    }
    /* « Ajouter à la lettre de Camille » when one chosen contact has a letter. */
    var basket = form.querySelector("[data-basket]");
    if (basket) {
      if (!basket.hasAttribute("data-basket-all")) {
        basket.setAttribute("data-basket-all", basket.textContent);
      }
      var lettered = chosenBoxes(form).filter(function (b) {
        return b.getAttribute("data-digest") === "1";
      });
      basket.textContent =
        lettered.length === 1
          ? basket
              .getAttribute("data-basket-one")
              .replace("{name}", lettered[0].getAttribute("data-name").split(" ")[0])
          : basket.getAttribute("data-basket-all");
    }
    var resend = form.querySelector("[data-resend]");
    var list = form.querySelector("[data-resend-list]");
    var confirm = form.querySelector("[data-resend-confirm]");
    var seen = [];
    list.replaceChildren();
    boxes(form).forEach(function (b) {
      var previous = b.getAttribute("data-previous");
      if (b.checked && previous && seen.indexOf(b.value) < 0) {
        seen.push(b.value);
        var li = document.createElement("li");
        li.textContent = previous;
        list.appendChild(li);
      }
    });
    resend.hidden = seen.length === 0;
    confirm.required = seen.length > 0;
    if (!seen.length) {
      confirm.checked = false;
    }
  }

  /* Tick a contact, adding a checkbox for one that is not shown yet. */
  function choose(form, contact) {
    var existing = boxes(form).filter(function (b) {
      return b.value.toLowerCase() === contact.email.toLowerCase();
    })[0];
    if (existing) {
      existing.checked = true;
    } else {
      var li = document.createElement("li");
      var label = document.createElement("label");
      label.className = "contact-choice";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.name = "to";
      box.value = contact.email;
      box.checked = true;
      box.setAttribute("data-name", contact.name);
      box.setAttribute("data-language", contact.language || "fr");
      box.setAttribute("data-formal", contact.formal ? "1" : "0");
      box.setAttribute("data-digest", contact.digest ? "1" : "0");
      if (contact.previous) {
        box.setAttribute("data-previous", contact.previous);
      }
      var name = document.createElement("span");
      name.className = "contact-name";
      name.textContent = contact.name;
      label.appendChild(box);
      label.appendChild(document.createTextNode(" "));
      label.appendChild(name);
      li.appendChild(label);
      if (contact.previous) {
        var already = document.createElement("span");
        already.className = "already";
        already.textContent = contact.previous;
        li.appendChild(already);
      }
      form.querySelector("[data-chosen]").appendChild(li);
    }
    update(form);
  }

  /* Case- and accent-insensitive form, as the server's matcher (« Bélanger » ~ « belanger »). */
  function fold(text) {
    return text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/\s+/g, " ")
      .trim();
  }

  /* The contacts what was typed may mean: an exact name, address or "Name <address>"
     is that one; otherwise any part of a name or an address. */
  function matchesFor(form, text) {
    var wanted = fold(text);
    if (!wanted) {
      return [];
    }
    var options = Array.prototype.slice.call(form.querySelectorAll("datalist option"));
    var exact = options.filter(function (o) {
      return (
        fold(o.value) === wanted ||
        fold(o.getAttribute("data-email")) === wanted ||
        fold(o.getAttribute("data-name")) === wanted
      );
    });
    if (exact.length === 1) {
      return exact;
    }
    return options.filter(function (o) {
      return (
        fold(o.getAttribute("data-name")).indexOf(wanted) >= 0 ||
        fold(o.getAttribute("data-email")).indexOf(wanted) >= 0
      );
    });
  }

  function optionFor(form, text) {
    var found = matchesFor(form, text);
    return found.length === 1 ? found[0] : null;
  }

  function chooseOption(form, option) {
    choose(form, {
      email: option.getAttribute("data-email"),
      name: option.getAttribute("data-name"),
      language: option.getAttribute("data-language"),
      formal: option.getAttribute("data-formal") === "1",
      digest: option.getAttribute("data-digest") === "1",
      previous: option.getAttribute("data-previous"),
    });
  }

  function clearPicker(form) {
    var list = form.querySelector("[data-picker-matches]");
    if (list) {
      list.replaceChildren();
      list.hidden = true;
    }
    if (form.getAttribute("data-picker-error") === "1") {
      form.removeAttribute("data-picker-error");
      showErrors(form.querySelector("[data-forward-errors]"), []);
    }
  }

  function pickTyped(form, input) {
    var option = optionFor(form, input.value);
    if (!option) {
      return false;
    }
    chooseOption(form, option);
    input.value = "";
    clearPicker(form);
    return true;
  }

  /* Enter (or leaving the box) on typed text: one contact is chosen, several are
     listed to choose from, none offers to add the person. The error clears as soon
     as the text is fixed or a contact is chosen. */
  function resolveTyped(form, input) {
    var text = input.value.trim();
    if (!text || pickTyped(form, input)) {
      return;
    }
    var found = matchesFor(form, text);
    var errors = form.querySelector("[data-forward-errors]");
    var list = form.querySelector("[data-picker-matches]");
    form.setAttribute("data-picker-error", "1");
    list.replaceChildren();
    if (found.length > 1) {
      showErrors(errors, [input.getAttribute("data-picker-several").replace("{text}", text)]);
      found.forEach(function (option) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-small";
        button.textContent = option.value;
        button.addEventListener("click", function () {
          chooseOption(form, option);
          input.value = "";
          clearPicker(form);
          input.focus();
        });
        li.appendChild(button);
        list.appendChild(li);
      });
      list.hidden = false;
      list.querySelector("button").focus();
      return;
    }
    list.hidden = true;
    showErrors(errors, [input.getAttribute("data-picker-none").replace("{text}", text)]);
    var details = form.querySelector(".new-contact");
    if (details) {
      details.open = true;
      var field = form.querySelector(text.indexOf("@") >= 0 ? "[data-new-email]" : "[data-new-name]");
      if (field && !field.value) {
        field.value = text;
      }
    }
  }

  /* form.getAttribute("action"), not form.action: the buttons named "action" shadow it. */
  function preview(form) {
    var params = new URLSearchParams(new FormData(form));
    params.set("action", "preview");
    var errors = form.querySelector("[data-forward-errors]");
    return postForm(form.getAttribute("action"), params).then(function (answer) {
      if (!answer.ok) {
        showErrors(errors, errorsOf(answer.data));
        return;
      }
      showErrors(errors, []);
      var section = form.querySelector("[data-preview]");
      section.querySelector("[data-preview-subject]").textContent = answer.data.subject;
      section.querySelector("[data-preview-to]").textContent = answer.data.to;
      section.querySelector("[data-preview-text]").textContent = answer.data.text;
      section.hidden = false;
      section.scrollIntoView({ block: "nearest" });
    });
  }

  function sendForm(form, button) {
    var params = new URLSearchParams(new FormData(form));
    params.set("action", "send");
    var errors = form.querySelector("[data-forward-errors]");
    button.disabled = true;
    return postForm(form.getAttribute("action"), params)
      .then(function (answer) {
        if (!answer.ok) {
          showErrors(errors, errorsOf(answer.data));
          if (answer.status === 409) {
            /* Already sent: the server says to whom; ask for the confirmation. */
            var resend = form.querySelector("[data-resend]");
            resend.hidden = false;
            var confirm = form.querySelector("[data-resend-confirm]");
            confirm.required = true;
            confirm.focus();
          }
          return;
        }
        showLabel(answer.data.entry_id, answer.data.label);
        dialog.close();
        showToast(answer.data);
      })
      .finally(function () {
        button.disabled = false;
      });
  }

  function setExcerpt(form, text) {
    var box = form.querySelector("[data-excerpt-box]");
    if (!box) {
      return;
    }
    form.querySelector("[data-excerpt]").value = text;
    box.querySelector("[data-excerpt-text]").textContent = text;
    box.hidden = !text;
  }

  function addToBasket(form, button) {
    var params = new URLSearchParams(new FormData(form));
    params.set("action", "basket");
    var errors = form.querySelector("[data-forward-errors]");
    button.disabled = true;
    return postForm(form.getAttribute("action"), params)
      .then(function (answer) {
        if (!answer.ok) {
          showErrors(errors, errorsOf(answer.data));
          return;
        }
        dialog.close();
        if (toast) {
          clearInterval(toastTimer);
          toast.querySelector("[data-toast-text]").textContent = answer.data.message;
          toast.querySelector("[data-toast-cancel]").hidden = true;
          toast.hidden = false;
          hideToast(5000);
        }
      })
      .finally(function () {
        button.disabled = false;
      });
  }

  function addContact(form) {
    var box = form.querySelector("[data-new-contact-errors]");
    var name = form.querySelector("[data-new-name]");
    var email = form.querySelector("[data-new-email]");
    var interests = form.querySelector("[data-new-interests]");
    var language = form.querySelector("[data-new-language]");
    var params = new URLSearchParams({
      name: name.value,
      email: email.value,
      interests: interests.value,
      language: language.value,
    });
    var formal = form.querySelector("[data-new-formal]");
    if (formal && formal.checked) {
      params.set("formal", "1");
    }
    return postForm("/contacts", params).then(function (answer) {
      if (!answer.ok) {
        showErrors(box, errorsOf(answer.data));
        return;
      }
      showErrors(box, []);
      var c = answer.data.contact;
      c.formal = Boolean(formal && formal.checked);
      var option = document.createElement("option");
      option.value = c.name + " <" + c.email + ">";
      option.setAttribute("data-email", c.email);
      option.setAttribute("data-name", c.name);
      option.setAttribute("data-language", c.language);
      option.setAttribute("data-formal", c.formal ? "1" : "0");
      var datalist = form.querySelector("datalist");
      if (datalist) {
        datalist.appendChild(option);
      }
      choose(form, c);
      name.value = email.value = interests.value = "";
      if (formal) {
        formal.checked = false;
      }
      /* The text typed in « Autre contact » was this person: it no longer blocks « Envoyer ». */
      var search = form.querySelector("[data-contact-search]");
      if (search) {
        search.value = "";
      }
      clearPicker(form);
      var details = form.querySelector(".new-contact");
      details.open = false;
      var summary = details.querySelector("summary");
      if (summary) {
        summary.focus();
      }
    });
  }

  function setup(form) {
    countNote(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "to") {
        update(form);
      } else if (event.target.hasAttribute("data-contact-search")) {
        pickTyped(form, event.target);
      }
    });
    var removeExcerpt = form.querySelector("[data-excerpt-remove]");
    if (removeExcerpt) {
      removeExcerpt.addEventListener("click", function () {
        setExcerpt(form, "");
        var subject = form.querySelector("[data-subject]");
        if (subject) {
          subject.focus();
        }
      });
    }
    form.addEventListener("input", function (event) {
      var target = event.target;
      if (target.hasAttribute("data-note")) {
        form.setAttribute("data-note-edited", target.value === noteDefault(form) ? "0" : "1");
        countNote(form);
      } else if (target.hasAttribute("data-subject")) {
        var plain = !target.value.trim() || subjectDefaults(form).indexOf(target.value) >= 0;
        form.setAttribute("data-subject-edited", plain ? "0" : "1");
      } else if (target.hasAttribute("data-contact-search")) {
        clearPicker(form);
        /* Picking a datalist suggestion fires "input" with the option's exact value. */
        var option = optionFor(form, target.value);
        if (option && option.value === target.value) {
          pickTyped(form, target);
        }
      }
    });
    form.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.key !== "Enter") {
        return;
      }
      if (target.hasAttribute("data-contact-search")) {
        event.preventDefault();
        resolveTyped(form, target);
      } else if (target.closest(".new-contact") && target.tagName === "INPUT") {
        event.preventDefault();
        addContact(form);
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter || form.querySelector("[data-send]");
      var search = form.querySelector("[data-contact-search]");
      if (search && search.value.trim() && !button.hasAttribute("data-new-contact")) {
        /* Leftover text in « Autre contact »: resolve it first (one match is chosen). */
        resolveTyped(form, search);
        if (search.value.trim()) {
          return;
        }
      }
      if (button.hasAttribute("data-new-contact")) {
        addContact(form);
      } else if (button.hasAttribute("data-basket")) {
        addToBasket(form, button);
      } else if (button.hasAttribute("data-preview-button")) {
        preview(form);
      } else {
        sendForm(form, button);
      }
    });
    update(form);
    var first =
      form.querySelector('[data-suggestions] input[name="to"]') ||
      form.querySelector("[data-contact-search]") ||
      form.querySelector("[data-note]");
    if (first) {
      first.focus();
    }
  }

  /* --- the dialog ---------------------------------------------------------- */

  function openPanel(link, excerpt) {
    opener = link;
    var url = new URL(link.href, window.location.href);
    url.searchParams.set("fragment", "1");
    body.innerHTML = loading;
    if (!dialog.open) {
      dialog.showModal();
    }
    dialog.querySelector("[data-forward-close]").focus();
    A.fetchDocument(url)
      .then(function (doc) {
        var form = doc.querySelector("[data-forward-form]");
        if (!form) {
          throw new Error("no form");
        }
        body.replaceChildren(document.adoptNode(form));
        var added = body.querySelector("[data-forward-form]");
        if (excerpt) {
          setExcerpt(added, excerpt);
        }
        setup(added);
      })
      .catch(function () {
        window.location.href = link.href; /* the page version still works */
      });
  }

  dialog.addEventListener("close", function () {
    body.innerHTML = loading;
    if (opener && document.contains(opener)) {
      opener.focus();
    }
  });

  dialog.addEventListener("click", function (event) {
    if (event.target.closest("[data-forward-close]") || event.target === dialog) {
      dialog.close(); /* the close button, or a click on the backdrop */
    }
  });

  /* A modal dialog already makes the page inert; this keeps Tab cycling inside
     it instead of escaping to the browser's toolbar. */
  dialog.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") {
      return;
    }
    var focusable = Array.prototype.slice
      .call(
        dialog.querySelectorAll(
          "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), textarea, select, summary"
        )
      )
      .filter(function (el) {
        /* checkVisibility also sees through a closed <details> (content-visibility). */
        var shown = el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null;
        return shown || el === document.activeElement;
      });
    if (!focusable.length) {
      return;
    }
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-forward]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    openPanel(link);
  });

  /* --- « Envoyer cet extrait »: a passage selected in an article -------------- */

  var MAX_SELECTION = 100000; /* the server refuses longer ones, with a sentence */
  var excerptButton = null;

  /* The selected text and the item it lies in (one with a forward link), or null. */
  function selectedPassage() {
    var selection = window.getSelection ? window.getSelection() : null;
    if (!selection || selection.isCollapsed || !selection.rangeCount) {
      return null;
    }
    var text = selection.toString();
    if (!text.trim()) {
      return null;
    }
    var node = selection.getRangeAt(0).commonAncestorContainer;
    var element = node.nodeType === 1 ? node : node.parentElement;
    var item = element && element.closest("[data-entry-id]");
    if (!item || dialog.contains(element)) {
      return null;
    }
    var link = item.querySelector("[data-forward]");
    if (!link) {
      return null;
    }
    return { text: text.slice(0, MAX_SELECTION), link: link, range: selection.getRangeAt(0) };
  }

  function hideExcerptButton() {
    if (excerptButton) {
      excerptButton.hidden = true;
    }
  }

  function showExcerptButton() {
    var found = selectedPassage();
    if (!found) {
      hideExcerptButton();
      return;
    }
    if (!excerptButton) {
      excerptButton = document.createElement("button");
      excerptButton.type = "button";
      excerptButton.className = "btn btn-small excerpt-button";
      excerptButton.setAttribute("data-excerpt-button", "");
      excerptButton.textContent = dialog.getAttribute("data-excerpt-label");
      /* mousedown would clear the selection before the click: keep it. */
      excerptButton.addEventListener("mousedown", function (event) {
        event.preventDefault();
      });
      excerptButton.addEventListener("click", function () {
        var now = selectedPassage();
        hideExcerptButton();
        if (now) {
          openPanel(now.link, now.text);
        }
      });
      document.body.appendChild(excerptButton);
    }
    var rect = found.range.getBoundingClientRect();
    excerptButton.style.top = String(window.scrollY + rect.bottom + 6) + "px";
    excerptButton.style.left = String(window.scrollX + Math.max(4, rect.left)) + "px";
    excerptButton.hidden = false;
  }

  var selectionTimer = null;
  document.addEventListener("selectionchange", function () {
    /* Mouse, touch (the handles) and keyboard (shift + arrows) all end up here. */
    clearTimeout(selectionTimer);
    selectionTimer = setTimeout(showExcerptButton, 150);
  });

  A.registerKey("f", function (item) {
    var found = selectedPassage();
    if (found) {
      hideExcerptButton();
      openPanel(found.link, found.text);
      return;
    }
    var link = item && item.querySelector("[data-forward]");
    if (link) {
      openPanel(link);
    }
  });

  /* --- your own rules: highlight the items and words they match ------------ */

  function foldChar(c) {
    return c.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().charAt(0) || c;
  }

  /* Wrap each occurrence of the words (folded, whole words, plural -s/-x allowed)
     in the text nodes of ``root`` with <mark class="rule-word">. */
  function markWords(root, words) {
    var folded = words.map(function (w) {
      var f = fold(w);
      /* as the server's matcher: a trailing plural s/x does not count */
      return f.length > 3 && /[sx]$/.test(f) ? f.slice(0, -1) : f;
    });
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    var nodes = [];
    while (walker.nextNode()) {
      nodes.push(walker.currentNode);
    }
    nodes.forEach(function (node) {
      var text = node.nodeValue;
      var flat = Array.prototype.map.call(text, foldChar).join("");
      var found = [];
      folded.forEach(function (w) {
        var from = 0;
        var at;
        while (w && (at = flat.indexOf(w, from)) >= 0) {
          var end = at + w.length;
          if (/[sx]/.test(flat.charAt(end)) && !/\w/.test(flat.charAt(end + 1))) {
            end += 1;
          }
          var before = at === 0 || !/[\w]/.test(flat.charAt(at - 1));
          var after = end >= flat.length || !/[\w]/.test(flat.charAt(end));
          if (before && after) {
            found.push([at, end]);
          }
          from = at + 1;
        }
      });
      if (!found.length) {
        return;
      }
      found.sort(function (a, b) {
        return b[0] - a[0];
      });
      var last = Infinity;
      found.forEach(function (range) {
        if (range[1] > last) {
          return; /* overlaps the one after it */
        }
        var middle = node.splitText(range[0]);
        middle.splitText(range[1] - range[0]);
        var mark = document.createElement("mark");
        mark.className = "rule-word";
        middle.parentNode.replaceChild(mark, middle);
        mark.appendChild(middle);
        last = range[0];
      });
    });
  }

  function highlightRules() {
    var items = Array.prototype.slice.call(document.querySelectorAll("article[data-entry-id]"));
    if (!items.length || !document.querySelector("[data-alerts-link], [data-rules-highlight]")) {
      return;
    }
    var ids = items.map(function (el) {
      return el.getAttribute("data-entry-id");
    });
    fetch("/api/rule-hits?ids=" + ids.slice(0, 200).join(","), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.ok ? response.json() : { hits: {} };
      })
      .then(function (data) {
        items.forEach(function (item) {
          var words = data.hits[item.getAttribute("data-entry-id")];
          if (!words) {
            return;
          }
          item.classList.add("rule-hit");
          var title = item.querySelector(".entry-title");
          if (title) {
            markWords(title, words);
          }
        });
      })
      .catch(function () {
        /* highlighting is a nicety: the items are there anyway */
      });
  }

  highlightRules();

  A.openForwardPanel = openPanel;
})();
