// The exporter form (exporters.admin.ExporterAdmin, template admin/exporters/exporter/change_form.html):
// - General and Data tabs over the fieldsets and the query inline (a tab with errors is marked);
// - payload content helpers: as a query's NQL is typed, its output columns (or its error) are fetched
//   from the admin's helpers view and shown as {{column}} chips; clicking a chip inserts it in the payload;
// - "Test load up to 20 records": posts the form's current values to the test-load view and shows the
//   result (per query: records sent, HTTP status, start of the answer, errors) at the top of the page.
(function () {
  "use strict";

  const DEBOUNCE_MS = 350;
  const NQL_FIELD = /^queries-(\d+|__prefix__)-nql$/;
  const NO_HELPERS_TEXT = "Type a query to see its columns.";

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  function element(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(function ([name, value]) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  ready(function () {
    const config = document.getElementById("exporter-config");
    if (!config) return;
    const form = config.closest("form");

    // -- tabs ---------------------------------------------------------------------------------------
    const tabs = Array.from(document.querySelectorAll(".exporter-tab"));
    const panels = Array.from(document.querySelectorAll(".exporter-panel"));

    function showTab(name) {
      tabs.forEach(function (tab) {
        const active = tab.dataset.tab === name;
        tab.classList.toggle("active", active);
        tab.setAttribute("aria-selected", active ? "true" : "false");
      });
      panels.forEach(function (panel) { panel.hidden = panel.dataset.panel !== name; });
      config.dataset.activeTab = name;
    }

    function markTab(name, hasErrors) {
      const tab = tabs.find(function (each) { return each.dataset.tab === name; });
      if (!tab) return;
      tab.classList.toggle("has-errors", hasErrors);
      const mark = tab.querySelector(".tab-error");
      if (hasErrors && !mark) {
        tab.appendChild(document.createTextNode(" "));
        tab.appendChild(element("span", {class: "tab-error", title: "This tab has errors", text: "!"}));
      } else if (!hasErrors && mark) {
        mark.remove();
      }
    }

    tabs.forEach(function (tab) { tab.addEventListener("click", function () { showTab(tab.dataset.tab); }); });
    showTab(config.dataset.activeTab || "general");

    // -- payload content helpers ---------------------------------------------------------------------
    const timers = new WeakMap();
    let sequence = 0;

    function queryRow(field) { return field.closest(".inline-related"); }
    function helpersBox(row) { return row && row.querySelector(".field-content_helpers .readonly"); }

    function recurrenceParams() {
      const params = {};
      const recurrence = form.querySelector("[name=recurrence]");
      const every = form.querySelector("[name=every_hours]");
      if (recurrence && recurrence.value) params.recurrence = recurrence.value;
      if (every && every.value) params.every_hours = every.value;
      return params;
    }

    function renderHelpers(box, data) {
      box.replaceChildren();
      if (data.error) {
        box.appendChild(element("span", {class: "helpers-error", text: data.error}));
        return;
      }
      if (!data.columns || !data.columns.length) {
        box.textContent = NO_HELPERS_TEXT;
        return;
      }
      data.columns.forEach(function (name, index) {
        if (index) box.appendChild(document.createTextNode(", "));
        box.appendChild(element("code", {title: "Insert in the payload", text: "{{" + name + "}}"}));
      });
      (data.warnings || []).forEach(function (warning) {
        box.appendChild(element("span", {class: "helpers-warning", text: warning}));
      });
    }

    async function refreshHelpers(field) {
      const box = helpersBox(queryRow(field));
      if (!box) return;
      const nql = field.value;
      const mine = String(++sequence);
      box.dataset.sequence = mine;
      if (!nql.trim()) {
        box.textContent = NO_HELPERS_TEXT;
        return;
      }
      box.classList.add("loading");
      try {
        const params = new URLSearchParams(Object.assign({nql: nql}, recurrenceParams()));
        const response = await fetch(config.dataset.helpersUrl + "?" + params.toString(), {
          credentials: "same-origin", headers: {"Accept": "application/json"},
        });
        const data = await response.json();
        if (box.dataset.sequence !== mine) return;  // a later keystroke's answer wins
        renderHelpers(box, response.ok ? data : {error: data.error || "The helpers could not be loaded."});
      } catch (error) {
        if (box.dataset.sequence === mine) renderHelpers(box, {error: "The helpers could not be loaded."});
      } finally {
        if (box.dataset.sequence === mine) box.classList.remove("loading");
      }
    }

    function scheduleHelpers(field) {
      window.clearTimeout(timers.get(field));
      timers.set(field, window.setTimeout(function () { refreshHelpers(field); }, DEBOUNCE_MS));
    }

    function nqlFields() {
      return Array.from(form.querySelectorAll("textarea")).filter(function (field) {
        return NQL_FIELD.test(field.name) && !field.closest(".empty-form");
      });
    }

    form.addEventListener("input", function (event) {
      if (event.target.name && NQL_FIELD.test(event.target.name)) scheduleHelpers(event.target);
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "recurrence" || event.target.name === "every_hours") {
        nqlFields().forEach(function (field) { if (field.value.trim()) scheduleHelpers(field); });
      }
    });
    form.addEventListener("click", function (event) {
      const chip = event.target.closest(".field-content_helpers code");
      if (!chip) return;
      const payload = queryRow(chip).querySelector("textarea[name$='-payload']");
      if (!payload) return;
      const start = payload.selectionStart ?? payload.value.length;
      const end = payload.selectionEnd ?? start;
      payload.value = payload.value.slice(0, start) + chip.textContent + payload.value.slice(end);
      payload.focus();
      payload.selectionStart = payload.selectionEnd = start + chip.textContent.length;
      payload.dispatchEvent(new Event("input", {bubbles: true}));
    });
    // Rows shown again after a failed save already have their helpers; those with a query do not if
    // the browser restored a typed query (back/forward): ask again for rows whose text is the default.
    nqlFields().forEach(function (field) {
      const box = helpersBox(queryRow(field));
      if (field.value.trim() && box && box.textContent.trim() === NO_HELPERS_TEXT) refreshHelpers(field);
    });

    // -- test load -----------------------------------------------------------------------------------
    const button = document.getElementById("test-load");
    const result = document.getElementById("test-load-result");
    if (!button || !result) return;

    function clearFieldErrors() {
      form.querySelectorAll(".test-load-errorlist").forEach(function (list) { list.remove(); });
    }

    function showFieldError(entry) {
      let row = null;
      const dash = entry.field.lastIndexOf("-");
      if (dash > 0) {
        const container = document.getElementById(entry.field.slice(0, dash));
        row = container && container.querySelector(".form-row.field-" + entry.field.slice(dash + 1));
      } else {
        row = form.querySelector("#panel-general .form-row.field-" + entry.field);
      }
      if (!row) return;
      const list = element("ul", {class: "errorlist test-load-errorlist"},
        entry.messages.map(function (message) { return element("li", {text: message}); }));
      row.insertBefore(list, row.firstChild);
    }

    function outcomeTable(queries) {
      const head = element("tr", {}, ["Query", "Records sent", "HTTP status", "Start of the answer", "Errors"]
        .map(function (title) { return element("th", {scope: "col", text: title}); }));
      const rows = queries.map(function (outcome) {
        return element("tr", {class: "test-load-query", "data-query": String(outcome.query)}, [
          element("td", {text: "#" + outcome.query}),
          element("td", {class: "records", text: String(outcome.records)}),
          element("td", {class: "status", text: outcome.status === null ? "—" : String(outcome.status)}),
          element("td", {class: "answer"}, [element("pre", {text: outcome.response_start || ""})]),
          element("td", {class: "errors", text: (outcome.errors || []).join(" ")}),
        ]);
      });
      return element("table", {class: "test-load-table"}, [element("thead", {}, [head]),
                                                          element("tbody", {}, rows)]);
    }

    function showResult(level, message, details) {
      const item = element("li", {class: level, id: "test-load-message"}, [element("span", {text: message})]);
      (details || []).forEach(function (detail) { item.appendChild(detail); });
      result.replaceChildren(element("ul", {class: "messagelist"}, [item]));
      result.scrollIntoView({block: "start"});
    }

    button.addEventListener("click", async function () {
      button.disabled = true;
      clearFieldErrors();
      showResult("info", "Test load running…");
      let data;
      let status = 0;
      try {
        const response = await fetch(config.dataset.testLoadUrl, {
          method: "POST", body: new FormData(form), credentials: "same-origin",
          headers: {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"},
        });
        status = response.status;
        data = await response.json();
      } catch (error) {
        data = {ok: false, message: "The test load failed" + (status ? " (HTTP " + status + ")." : ".")};
      } finally {
        button.disabled = false;
      }
      if (data.errors) {
        const items = data.errors.map(function (entry) {
          return element("li", {text: (entry.label ? entry.label + ": " : "") + entry.messages.join(" ")});
        });
        showResult("error", data.message, [element("ul", {class: "test-load-errors"}, items)]);
        data.errors.forEach(showFieldError);
        markTab("general", data.errors.some(function (entry) { return entry.tab === "general"; }));
        markTab("data", data.errors.some(function (entry) { return entry.tab === "data"; }));
        const first = data.errors[0];
        if (first) showTab(first.tab);
        return;
      }
      markTab("general", false);
      markTab("data", false);
      const details = [];
      if (data.queries) details.push(outcomeTable(data.queries));
      if (data.run && data.run.url) {
        details.push(element("div", {}, [element("a", {href: data.run.url, id: "test-load-run", text: "See the test run"})]));
      }
      showResult(data.ok ? "success" : "error", data.message || "The test load failed.", details);
    });
  });
})();
