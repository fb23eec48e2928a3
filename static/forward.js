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

  function noteDefault(form) {
    var chosen = boxes(form).filter(function (b) {
      return b.checked;
    });
    var english =
      chosen.length > 0 &&
      chosen.every(function (b) {
        return b.getAttribute("data-language") === "en";
      });
    return form.getAttribute(english ? "data-default-en" : "data-default-fr");
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

  function optionFor(form, text) {
    var wanted = text.trim().toLowerCase();
    if (!wanted) {
      return null;
    }
    var options = Array.prototype.slice.call(form.querySelectorAll("datalist option"));
    return (
      options.filter(function (o) {
        return (
          o.value.toLowerCase() === wanted ||
          o.getAttribute("data-email").toLowerCase() === wanted ||
          o.getAttribute("data-name").toLowerCase() === wanted
        );
      })[0] || null
    );
  }

  function pickTyped(form, input) {
    var option = optionFor(form, input.value);
    if (!option) {
      return false;
    }
    choose(form, {
      email: option.getAttribute("data-email"),
      name: option.getAttribute("data-name"),
      language: option.getAttribute("data-language"),
      previous: option.getAttribute("data-previous"),
    });
    input.value = "";
    return true;
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
    return postForm("/contacts", params).then(function (answer) {
      if (!answer.ok) {
        showErrors(box, errorsOf(answer.data));
        return;
      }
      showErrors(box, []);
      var c = answer.data.contact;
      var option = document.createElement("option");
      option.value = c.name + " <" + c.email + ">";
      option.setAttribute("data-email", c.email);
      option.setAttribute("data-name", c.name);
      option.setAttribute("data-language", c.language);
      var datalist = form.querySelector("datalist");
      if (datalist) {
        datalist.appendChild(option);
      }
      choose(form, c);
      name.value = email.value = interests.value = "";
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
    form.addEventListener("input", function (event) {
      var target = event.target;
      if (target.hasAttribute("data-note")) {
        form.setAttribute("data-note-edited", target.value === noteDefault(form) ? "0" : "1");
        countNote(form);
      } else if (target.hasAttribute("data-contact-search")) {
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
        if (target.value.trim() && !pickTyped(form, target)) {
          /* Not a contact: the server says so in words (and how to add one). */
          preview(form);
        }
      } else if (target.closest(".new-contact") && target.tagName === "INPUT") {
        event.preventDefault();
        addContact(form);
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter || form.querySelector("[data-send]");
      if (button.hasAttribute("data-new-contact")) {
        addContact(form);
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

  function openPanel(link) {
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
        setup(body.querySelector("[data-forward-form]"));
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

  A.registerKey("f", function (item) {
    var link = item && item.querySelector("[data-forward]");
    if (link) {
      openPanel(link);
    }
  });

  A.openForwardPanel = openPanel;
})();
