/*
 * The NXQL editor (nxql.md, "NXQL editor"): sends the typed query to the Web API V2 with the typed
 * credentials and shows the answer as a pageable, sortable table.
 *
 * How results are fetched (one request per Send): the editor always asks for format=csv, adding
 * hr=true when Formatted is ticked, and parses the tab-separated answer (values holding a tab, a
 * newline or a quote are quoted with " and inner quotes doubled). CSV rather than JSON because
 * its header line names the columns in the selection's order even when there are no rows, and
 * because Formatted then only changes the hr parameter, exactly as documented (hr is ignored for
 * JSON). Sorting reads numbers back from the text: plain numbers, and with Formatted the
 * human-readable units (B/KB/MB/GB/TB, ms/s/min/h/d, %); a column whose every value reads as a
 * number sorts numerically, any other column by code point like the Web API's order_by. Empty
 * values (absent in the data) sort last in both directions.
 *
 * Everything shown comes from the server or the user and is written with textContent only.
 */
(function () {
  "use strict";

  const QUERY_URL = document.body.dataset.queryUrl || "/2/query";
  const COMPLETION = JSON.parse(document.getElementById("nxql-completion").textContent);
  const MAX_SUGGESTIONS = 50;
  const UNAUTHORIZED_MESSAGE =
    "Wrong user name or password, or the account may not use the Web API " +
    "(it needs Finder access and data privacy set to none).";

  const $ = (id) => document.getElementById(id);
  const form = $("editor-form");
  const usernameInput = $("username");
  const passwordInput = $("password");
  const queryInput = $("query");
  const p1Input = $("p1");
  const p2Input = $("p2");
  const formattedInput = $("formatted");
  const sendButton = $("send");
  const loading = $("loading");
  const errorBox = $("error");
  const errorMessage = $("error-message");
  const errorOptions = $("error-options");
  const resultBox = $("result");
  const pageSizeSelect = $("page-size");
  const table = $("result-table");
  const info = $("info");
  const pager = $("pager");
  const elapsed = $("elapsed");
  const otherFormats = $("other-formats");
  const suggestionList = $("suggestions");
  const platformInputs = Array.from(document.querySelectorAll('input[name="platform"]'));

  // ------------------------------------------------------------------------------------------
  // Request parameters

  function platforms() {
    return platformInputs.filter((input) => input.checked).map((input) => input.value);
  }

  /** The Web API parameters of the current form, in the documented order. */
  function parameters(format) {
    const list = [["query", queryInput.value], ["format", format]];
    for (const platform of platforms()) list.push(["platform", platform]);
    if (p1Input.value !== "") list.push(["p1", p1Input.value]);
    if (p2Input.value !== "") list.push(["p2", p2Input.value]);
    if (formattedInput.checked) list.push(["hr", "true"]);
    return list;
  }

  function encodeParameters(list) {
    return list.map(([name, value]) => encodeURIComponent(name) + "=" + encodeURIComponent(value)).join("&");
  }

  /** HTTP Basic credentials, UTF-8 encoded before base64 (btoa alone only takes Latin-1). */
  function basicAuthorization(username, password) {
    const bytes = new TextEncoder().encode(username + ":" + password);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return "Basic " + btoa(binary);
  }

  function updateOtherFormats() {
    const show = queryInput.value.trim() !== "";
    otherFormats.hidden = !show;
    for (const link of otherFormats.querySelectorAll("a[data-format]")) {
      const url = new URL(QUERY_URL, window.location.href);
      link.href = url.origin + url.pathname + "?" + encodeParameters(parameters(link.dataset.format));
    }
  }

  // ------------------------------------------------------------------------------------------
  // Sending

  let currentRequest = null;

  async function send() {
    closeSuggestions();
    if (queryInput.value.trim() === "") {
      showError("Type in an NXQL query.", []);
      queryInput.focus();
      return;
    }
    if (platforms().length === 0) {
      showError("Tick at least one platform.", []);
      return;
    }
    if (currentRequest) currentRequest.abort();
    const controller = new AbortController();
    currentRequest = controller;
    const body = encodeParameters(parameters("csv"));
    const started = performance.now();
    setLoading(true);
    try {
      // credentials: "omit" keeps the browser from prompting for a password on a 401: the
      // editor reports it itself. The explicit Authorization header is still sent.
      const response = await fetch(QUERY_URL, {
        method: "POST",
        headers: {
          "Authorization": basicAuthorization(usernameInput.value, passwordInput.value),
          "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
          "Accept": "text/csv, text/html;q=0.9",
        },
        body: body,
        credentials: "omit",
        cache: "no-store",
        signal: controller.signal,
      });
      const text = await response.text();
      if (controller !== currentRequest) return;
      if (response.status === 200) {
        showResult(parseTsv(text), (performance.now() - started) / 1000);
      } else if (response.status === 401) {
        showError(UNAUTHORIZED_MESSAGE, []);
      } else {
        showErrorPage(response, text);
      }
    } catch (error) {
      if (controller !== currentRequest || error.name === "AbortError") return;
      showError("The request failed: " + error.message, []);
    } finally {
      if (controller === currentRequest) {
        currentRequest = null;
        setLoading(false);
      }
    }
  }

  function setLoading(on) {
    loading.hidden = !on;
    sendButton.disabled = on;
    if (on) {
      errorBox.hidden = true;
      resultBox.hidden = true;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Errors

  function showErrorPage(response, text) {
    const page = new DOMParser().parseFromString(text, "text/html");
    const message = page.getElementById("error_message");
    const options = Array.from(page.querySelectorAll("#error_options li")).map((li) => li.textContent);
    const fallback = "The server answered " + response.status + (response.statusText ? " " + response.statusText : "") + ".";
    showError(message ? message.textContent : fallback, options);
  }

  function showError(message, options) {
    resultBox.hidden = true;
    errorMessage.textContent = message;
    errorOptions.replaceChildren();
    for (const option of options) {
      const item = document.createElement("li");
      item.textContent = option;
      errorOptions.appendChild(item);
    }
    errorOptions.hidden = options.length === 0;
    errorBox.hidden = false;
  }

  // ------------------------------------------------------------------------------------------
  // Tab-separated values

  /** Rows of cells; the first row is the header. Lines end with "\n". */
  function parseTsv(text) {
    const rows = [];
    let row = [];
    let i = 0;
    const n = text.length;
    while (i < n) {
      let value;
      if (text.charCodeAt(i) === 34) { // a quoted value, inner quotes doubled
        let parts = "";
        i += 1;
        for (;;) {
          const quote = text.indexOf('"', i);
          if (quote < 0) { parts += text.slice(i); i = n; break; }
          parts += text.slice(i, quote);
          if (text.charCodeAt(quote + 1) === 34) { parts += '"'; i = quote + 2; } else { i = quote + 1; break; }
        }
        value = parts;
        // Anything between the closing quote and the separator is kept as is.
        let end = i;
        while (end < n && text[end] !== "\t" && text[end] !== "\n") end += 1;
        value += text.slice(i, end);
        i = end;
      } else {
        let end = i;
        while (end < n) {
          const c = text.charCodeAt(end);
          if (c === 9 || c === 10) break;
          end += 1;
        }
        value = text.slice(i, end);
        if (value.endsWith("\r")) value = value.slice(0, -1);
        i = end;
      }
      row.push(value);
      if (i >= n) { rows.push(row); break; }
      if (text[i] === "\t") {
        i += 1;
        if (i >= n) { row.push(""); rows.push(row); }
      } else { // newline
        rows.push(row);
        row = [];
        i += 1;
      }
    }
    return rows;
  }

  // ------------------------------------------------------------------------------------------
  // Sort keys: numbers read back from the text (plain or human-readable)

  const BYTE_UNITS = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
  const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
  const NUMBER_UNIT = /^(-?\d+(?:\.\d+)?) ?(B|KB|MB|GB|TB|ms|s|%)$/;
  const TWO_UNITS = /^(-?)(\d+) (min|h|d) (\d+) (s|min|h)$/;
  const MS = { ms: 1, s: 1000, min: 60000, h: 3600000, d: 86400000 };

  /** A number for the text, or null when it does not read as one. */
  function numericKey(text) {
    if (NUMBER.test(text)) return Number(text);
    if (text === "Infinity") return Infinity;
    if (text === "-Infinity") return -Infinity;
    let match = NUMBER_UNIT.exec(text);
    if (match) {
      const number = Number(match[1]);
      const unit = match[2];
      if (unit in BYTE_UNITS) return number * BYTE_UNITS[unit];
      if (unit === "%") return number;
      return number * MS[unit];
    }
    match = TWO_UNITS.exec(text);
    if (match) {
      const value = Number(match[2]) * MS[match[3]] + Number(match[4]) * MS[match[5]];
      return match[1] === "-" ? -value : value;
    }
    return null;
  }

  // ------------------------------------------------------------------------------------------
  // Result table

  const state = { columns: [], rows: [], order: [], numeric: [], sortColumn: -1, sortDescending: false, page: 0 };

  function showResult(rows, seconds) {
    const header = rows.length ? rows[0] : [];
    const data = rows.slice(1).map((row) => {
      // Keep every row as wide as the header.
      while (row.length < header.length) row.push("");
      return row;
    });
    state.columns = header;
    state.rows = data;
    state.order = data.map((_, index) => index);
    state.numeric = header.map((_, column) => {
      let seen = false;
      for (const row of data) {
        const text = row[column];
        if (text === "" || text === "NaN") continue;
        if (numericKey(text) === null) return false;
        seen = true;
      }
      return seen;
    });
    state.sortColumn = -1;
    state.sortDescending = false;
    state.page = 0;
    elapsed.textContent = data.length + (data.length === 1 ? " entry" : " entries") + " in " + seconds.toFixed(2) + " s";
    renderHeader();
    renderPage();
    errorBox.hidden = true;
    resultBox.hidden = false;
  }

  function renderHeader() {
    const row = document.createElement("tr");
    state.columns.forEach((name, column) => {
      const cell = document.createElement("th");
      cell.scope = "col";
      if (state.numeric[column]) cell.classList.add("num");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.dataset.column = String(column);
      button.title = "Sort by " + name;
      const label = document.createElement("span");
      label.textContent = name;
      const arrow = document.createElement("span");
      arrow.className = "arrow";
      arrow.setAttribute("aria-hidden", "true");
      button.append(label, arrow);
      button.addEventListener("click", () => sortBy(column));
      cell.appendChild(button);
      row.appendChild(cell);
    });
    table.tHead.replaceChildren(row);
    updateSortIndicators();
  }

  function updateSortIndicators() {
    table.tHead.querySelectorAll("th").forEach((cell, column) => {
      const arrow = cell.querySelector(".arrow");
      if (column === state.sortColumn) {
        cell.setAttribute("aria-sort", state.sortDescending ? "descending" : "ascending");
        arrow.textContent = state.sortDescending ? "\u25BC" : "\u25B2";
      } else {
        cell.removeAttribute("aria-sort");
        arrow.textContent = "\u21C5";
      }
    });
  }

  function sortBy(column) {
    if (state.sortColumn === column) {
      state.sortDescending = !state.sortDescending;
    } else {
      state.sortColumn = column;
      state.sortDescending = false;
    }
    const numeric = state.numeric[column];
    const keys = state.rows.map((row) => {
      const text = row[column];
      if (text === "" || text === "NaN") return null;
      return numeric ? numericKey(text) : text;
    });
    const direction = state.sortDescending ? -1 : 1;
    state.order = state.rows.map((_, index) => index);
    state.order.sort((a, b) => {
      const x = keys[a];
      const y = keys[b];
      if (x === null || y === null) {
        if (x === y) return a - b;
        return x === null ? 1 : -1; // empty values last, whatever the direction
      }
      if (x < y) return -direction;
      if (x > y) return direction;
      return a - b;
    });
    state.page = 0;
    updateSortIndicators();
    renderPage();
  }

  function pageSize() {
    return Number(pageSizeSelect.value) || 10;
  }

  function pageCount() {
    return Math.max(1, Math.ceil(state.rows.length / pageSize()));
  }

  function renderPage() {
    const size = pageSize();
    const total = state.rows.length;
    state.page = Math.min(Math.max(state.page, 0), pageCount() - 1);
    const first = state.page * size;
    const last = Math.min(first + size, total);
    const body = document.createElement("tbody");
    if (total === 0) {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.className = "empty";
      cell.colSpan = Math.max(1, state.columns.length);
      cell.textContent = "No data available";
      row.appendChild(cell);
      body.appendChild(row);
    }
    for (let position = first; position < last; position += 1) {
      const values = state.rows[state.order[position]];
      const row = document.createElement("tr");
      for (let column = 0; column < state.columns.length; column += 1) {
        const cell = document.createElement("td");
        if (state.numeric[column]) cell.className = "num";
        cell.textContent = values[column];
        row.appendChild(cell);
      }
      body.appendChild(row);
    }
    table.replaceChild(body, table.tBodies[0]);
    info.textContent = total === 0
      ? "Showing 0 to 0 of 0 entries"
      : "Showing " + (first + 1) + " to " + last + " of " + total + " entries";
    renderPager();
  }

  function pagerButton(label, page, options) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    if (options.className) button.className = options.className;
    if (options.ariaLabel) button.setAttribute("aria-label", options.ariaLabel);
    if (options.current) button.setAttribute("aria-current", "page");
    button.disabled = Boolean(options.disabled);
    button.addEventListener("click", () => {
      state.page = page;
      renderPage();
    });
    return button;
  }

  /** The page numbers to show: the first, the last and two either side of the current one. */
  function visiblePages(count, current) {
    const pages = [];
    for (let page = 0; page < count; page += 1) {
      if (page === 0 || page === count - 1 || Math.abs(page - current) <= 2) pages.push(page);
    }
    return pages;
  }

  function renderPager() {
    const count = pageCount();
    const current = state.page;
    const items = [pagerButton("Previous", current - 1, { className: "previous", disabled: current === 0 })];
    let previous = -1;
    for (const page of visiblePages(count, current)) {
      if (page - previous > 1) {
        const gap = document.createElement("span");
        gap.className = "gap";
        gap.textContent = "\u2026";
        items.push(gap);
      }
      items.push(pagerButton(String(page + 1), page, {
        className: "page" + (page === current ? " current" : ""),
        ariaLabel: "Page " + (page + 1),
        current: page === current,
      }));
      previous = page;
    }
    items.push(pagerButton("Next", current + 1, { className: "next", disabled: current >= count - 1 }));
    pager.replaceChildren(...items);
  }

  pageSizeSelect.addEventListener("change", () => {
    state.page = 0;
    renderPage();
  });

  // ------------------------------------------------------------------------------------------
  // Completion of table, field, aggregate and keyword names (from the schema registry)

  const TABLES = COMPLETION.tables;
  const TABLE_NAMES = Object.keys(TABLES);
  const AGGREGATES = COMPLETION.aggregates;
  const KEYWORDS = COMPLETION.keywords;
  const OPERATORS = new Set(KEYWORDS.operators);

  const NAME_START = /[A-Za-z_]/;
  const NAME_CHAR = /[A-Za-z0-9_.*]/;

  /**
   * Reads NXQL text into nested lists, as far as the text goes. A list is {tokens, parent, index,
   * role}: tokens are lower-cased names or child lists; role says what the list is in the query
   * (selection, from-tables, condition, value...), from its parent's head word and its position.
   * Returns {root, open, inString}: open is the innermost list still open at the end.
   */
  function readLists(text) {
    const root = { tokens: [], parent: null, index: -1, role: "top" };
    let open = root;
    let i = 0;
    const n = text.length;
    while (i < n) {
      const c = text[i];
      if (c === "(") {
        const list = { tokens: [], parent: open, index: open.tokens.length, role: "" };
        list.role = roleOf(list);
        open.tokens.push(list);
        open = list;
        i += 1;
      } else if (c === ")") {
        if (open.parent) open = open.parent;
        i += 1;
      } else if (c === '"' || c === "'") {
        let j = i + 1;
        while (j < n && text[j] !== c) j += text[j] === "\\" ? 2 : 1;
        if (j >= n) return { root, open, inString: true };
        open.tokens.push({ literal: true });
        i = j + 1;
      } else if (c === "#") { // a category: not completed, skipped as one token
        let j = i + 1;
        if (text[j] === '"' || text[j] === "'") {
          const quote = text[j];
          j += 1;
          while (j < n && text[j] !== quote) j += 1;
          if (j >= n) return { root, open, inString: true };
          j += 1;
        } else {
          while (j < n && NAME_CHAR.test(text[j])) j += 1;
        }
        open.tokens.push({ literal: true });
        i = j;
      } else if (/\s/.test(c)) {
        i += 1;
      } else {
        let j = i + 1;
        while (j < n && !/[\s()"']/.test(text[j])) j += 1;
        open.tokens.push(text.slice(i, j).toLowerCase());
        i = j;
      }
    }
    return { root, open, inString: false };
  }

  function head(list) {
    return list && typeof list.tokens[0] === "string" ? list.tokens[0] : null;
  }

  function roleOf(list) {
    const parent = list.parent;
    const parentHead = head(parent);
    // The outermost parentheses may be left out: `select (name) (from device)`.
    if (!parent.parent && parentHead !== "select" && parentHead !== "update") return "statement";
    if (parent.role === "selection") return "table-selection"; // ((device (name)) (binary (name)))
    if (parent.role === "table-selection") return list.index >= 1 ? "table-fields" : "other";
    if (parentHead === "select") return list.index === 1 ? "selection" : "select-clause";
    if (parentHead === "update") return "update-clause";
    if (parentHead === "from") return list.index === 1 ? "from-tables" : "from-clause";
    if (parentHead === "with") return "with-clause";
    if (parentHead === "where") return "condition";
    if (OPERATORS.has(parentHead)) return "value";
    if (parentHead === "set") return "value";
    if (parentHead === "order_by") return "order";
    return "other";
  }

  /** The tables the query names (in from, where and with), in order of appearance. */
  function namedTables(text) {
    const found = [];
    const add = (name) => {
      if (typeof name === "string" && Object.prototype.hasOwnProperty.call(TABLES, name) && !found.includes(name)) {
        found.push(name);
      }
    };
    const visit = (list) => {
      const first = head(list);
      if (first === "from" || first === "where" || first === "with") add(list.tokens[1]);
      if (list.role === "from-tables" || list.role === "table-selection") list.tokens.forEach(add);
      for (const token of list.tokens) if (typeof token === "object" && token.tokens) visit(token);
    };
    visit(readLists(text).root);
    return found;
  }

  function tableItems(filter) {
    return TABLE_NAMES.filter((name) => !filter || filter(TABLES[name])).map((name) => ({
      name, detail: TABLES[name].kind + " table", description: TABLES[name].description,
    }));
  }

  function fieldItems(tables) {
    const items = [];
    const seen = new Set();
    for (const table of tables) {
      for (const field of TABLES[table].fields) {
        if (seen.has(field.name)) continue;
        seen.add(field.name);
        items.push({ name: field.name, detail: field.type + " \u00B7 " + table, description: field.description });
      }
    }
    return items;
  }

  function aggregateItems(tables) {
    return AGGREGATES
      .filter((aggregate) => tables === null || aggregate.tables.some((table) => tables.includes(table)))
      .map((aggregate) => ({ name: aggregate.name, detail: aggregate.type + " \u00B7 aggregate", description: aggregate.description }));
  }

  function keywordItems(words, detail) {
    return words.map((name) => ({ name, detail: detail || "keyword", description: "" }));
  }

  /** Fields (and aggregates of the event tables) of the tables the query names, else of all. */
  function queryFieldItems(tables) {
    const scope = tables.length ? tables : TABLE_NAMES;
    const events = tables.filter((table) => TABLES[table].kind === "event");
    return fieldItems(scope).concat(aggregateItems(tables.length ? events : null));
  }

  function tableOfWhere(list) {
    // A condition's table: the `where` the condition sits in.
    for (let current = list; current; current = current.parent) {
      if (head(current) === "where") {
        const table = current.tokens[1];
        return Object.prototype.hasOwnProperty.call(TABLES, table) ? table : null;
      }
    }
    return null;
  }

  /** Candidates for a word at `position` in `list` (0 = the list's head word). */
  function candidates(list, position, text) {
    const tables = () => namedTables(text);
    const first = head(list);
    if (position === 0) {
      switch (list.role) {
        case "top":
        case "statement": return keywordItems(["select", "update"]);
        case "selection": return queryFieldItems(tables());
        case "table-selection": return tableItems();
        case "table-fields": return fieldItems(tableNameOf(list.parent));
        case "select-clause": return keywordItems(["from", "order_by", "limit"]);
        case "update-clause": return keywordItems(["set", "from"]);
        case "from-tables": return tableItems((table) => table.kind !== "internal");
        case "from-clause": return keywordItems(["where", "with", "between"]);
        case "with-clause": return keywordItems(["where", "between", "compute"]);
        case "condition": return keywordItems(KEYWORDS.operators, "operator");
        case "value": return keywordItems(KEYWORDS.types, "type");
        case "order": return keywordItems(KEYWORDS.order);
        default: return keywordItems([...KEYWORDS.clauses, ...KEYWORDS.operators, ...KEYWORDS.types]);
      }
    }
    if (list.role === "selection") return queryFieldItems(tables());
    if (list.role === "table-fields") return fieldItems(tableNameOf(list.parent));
    if (list.role === "from-tables") return tableItems();
    switch (first) {
      case "select": return position === 1 ? queryFieldItems(tables()) : [];
      case "from":
      case "where": return position === 1 ? tableItems() : [];
      case "with": return position === 1 ? tableItems((table) => table.kind === "event") : [];
      case "compute": {
        const withTable = list.parent && head(list.parent) === "with" ? list.parent.tokens[1] : null;
        return aggregateItems(Object.prototype.hasOwnProperty.call(TABLES, withTable) ? [withTable] : null);
      }
      case "order_by":
        if (position === 1) return queryFieldItems(tables());
        return position === 2 ? keywordItems(KEYWORDS.order) : [];
      case "between": return keywordItems(KEYWORDS.time, "time");
      case "enum": return enumItems(list);
      case "string": case "pattern": case "integer": case "real": case "boolean": case "datetime":
      case "duration": case "bytes": case "ip_address": case "id": case "null": case "limit": case "set":
        return [];
      default:
        if (OPERATORS.has(first)) {
          if (position !== 1) return [];
          const table = tableOfWhere(list);
          return table ? fieldItems([table]) : queryFieldItems(tables());
        }
        return queryFieldItems(tables());
    }
  }

  function tableNameOf(list) {
    const name = head(list);
    return Object.prototype.hasOwnProperty.call(TABLES, name) ? [name] : [];
  }

  function enumItems(list) {
    // (eq platform (enum w…: the values of the compared field.
    const condition = list.parent;
    const fieldName = condition && OPERATORS.has(head(condition)) ? condition.tokens[1] : null;
    if (typeof fieldName !== "string") return [];
    const table = tableOfWhere(condition);
    const scope = table ? [table] : TABLE_NAMES;
    const values = [];
    for (const name of scope) {
      const field = TABLES[name].fields.find((candidate) => candidate.name === fieldName);
      if (field) for (const value of field.enum) if (!values.includes(value)) values.push(value);
    }
    return keywordItems(values, "value of " + fieldName);
  }

  /** The word being typed at the caret and what may complete it; null when nothing applies. */
  function completionAt(text, caret) {
    let start = caret;
    while (start > 0 && NAME_CHAR.test(text[start - 1])) start -= 1;
    if (start === caret || !NAME_START.test(text[start])) return null;
    if (start > 0 && (text[start - 1] === "#" || text[start - 1] === "%")) return null;
    let end = caret;
    while (end < text.length && NAME_CHAR.test(text[end])) end += 1;
    const word = text.slice(start, caret);
    const reading = readLists(text.slice(0, start));
    if (reading.inString) return null;
    const list = reading.open;
    const items = candidates(list, list.tokens.length, text);
    const prefix = word.toLowerCase();
    const matches = [];
    const seen = new Set();
    for (const item of items) {
      const name = item.name.toLowerCase();
      if (!name.startsWith(prefix) || name === prefix || seen.has(name)) continue;
      seen.add(name);
      matches.push(item);
    }
    // Shorter names first among equals: `name` before `name_…`; otherwise the registry's order.
    const rank = new Map(matches.map((item, index) => [item, index]));
    matches.sort((a, b) => (a.name.length - b.name.length) || (rank.get(a) - rank.get(b)));
    if (!matches.length) return null;
    return { start, end, word, items: matches.slice(0, MAX_SUGGESTIONS) };
  }

  let completion = null;
  let active = 0;

  function closeSuggestions() {
    completion = null;
    suggestionList.hidden = true;
    suggestionList.replaceChildren();
    queryInput.setAttribute("aria-expanded", "false");
    queryInput.removeAttribute("aria-activedescendant");
  }

  function updateSuggestions() {
    if (queryInput.selectionStart !== queryInput.selectionEnd) {
      closeSuggestions();
      return;
    }
    const found = completionAt(queryInput.value, queryInput.selectionStart);
    if (!found) {
      closeSuggestions();
      return;
    }
    completion = found;
    active = 0;
    const items = found.items.map((item, index) => {
      const option = document.createElement("li");
      option.id = "suggestion-" + index;
      option.setAttribute("role", "option");
      option.dataset.name = item.name;
      const name = document.createElement("span");
      name.className = "suggestion-name";
      name.textContent = item.name;
      const detail = document.createElement("span");
      detail.className = "suggestion-detail";
      detail.textContent = item.detail;
      option.append(name, detail);
      if (item.description) option.title = item.description;
      option.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus
      option.addEventListener("click", () => {
        active = index;
        acceptSuggestion();
      });
      return option;
    });
    suggestionList.replaceChildren(...items);
    suggestionList.hidden = false;
    queryInput.setAttribute("aria-expanded", "true");
    highlight();
    placeSuggestions();
  }

  function highlight() {
    Array.from(suggestionList.children).forEach((option, index) => {
      const on = index === active;
      option.classList.toggle("active", on);
      option.setAttribute("aria-selected", on ? "true" : "false");
      if (on) {
        queryInput.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      }
    });
  }

  function acceptSuggestion() {
    if (!completion) return;
    const name = completion.items[active].name;
    const { start, end } = completion;
    closeSuggestions();
    queryInput.focus();
    queryInput.setSelectionRange(start, end);
    // insertText keeps the browser's undo history; setRangeText is the fallback.
    let inserted = false;
    suppressInput = true;
    try {
      inserted = document.execCommand("insertText", false, name);
    } catch (error) {
      inserted = false;
    }
    suppressInput = false;
    if (!inserted || queryInput.value.slice(start, start + name.length) !== name) {
      queryInput.setRangeText(name, start, end, "end");
    }
    updateOtherFormats();
  }

  /** Puts the list just under the caret, inside the query box. */
  function placeSuggestions() {
    const caret = caretOffset(queryInput, completion.start);
    const box = queryInput.parentElement.getBoundingClientRect();
    const area = queryInput.getBoundingClientRect();
    const top = area.top - box.top + caret.top - queryInput.scrollTop + caret.height;
    let left = area.left - box.left + caret.left - queryInput.scrollLeft;
    const width = suggestionList.offsetWidth;
    left = Math.max(0, Math.min(left, area.width - width));
    suggestionList.style.top = Math.min(top, area.height + (area.top - box.top)) + "px";
    suggestionList.style.left = left + "px";
  }

  const MIRRORED = ["boxSizing", "width", "borderTopWidth", "borderRightWidth", "borderBottomWidth",
    "borderLeftWidth", "paddingTop", "paddingRight", "paddingBottom", "paddingLeft", "fontStyle", "fontVariant",
    "fontWeight", "fontStretch", "fontSize", "lineHeight", "fontFamily", "textAlign", "textTransform",
    "textIndent", "letterSpacing", "wordSpacing", "tabSize"];

  /** The caret's offset inside the textarea, measured on a hidden copy of it. */
  function caretOffset(textarea, position) {
    const style = window.getComputedStyle(textarea);
    const mirror = document.createElement("div");
    for (const property of MIRRORED) mirror.style[property] = style[property];
    mirror.style.position = "absolute";
    mirror.style.visibility = "hidden";
    mirror.style.top = "0";
    mirror.style.left = "-10000px";
    mirror.style.whiteSpace = "pre-wrap";
    mirror.style.overflowWrap = "break-word";
    mirror.style.overflow = "hidden";
    mirror.textContent = textarea.value.slice(0, position);
    const marker = document.createElement("span");
    marker.textContent = "\u200b";
    mirror.appendChild(marker);
    document.body.appendChild(mirror);
    const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.3;
    const offset = { top: marker.offsetTop, left: marker.offsetLeft, height: lineHeight };
    mirror.remove();
    return offset;
  }

  let suppressInput = false;

  queryInput.addEventListener("input", () => {
    updateOtherFormats();
    if (!suppressInput) updateSuggestions();
  });

  queryInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) return; // handled below: send
    if (!completion) return;
    switch (event.key) {
      case "ArrowDown":
        active = (active + 1) % completion.items.length;
        highlight();
        break;
      case "ArrowUp":
        active = (active - 1 + completion.items.length) % completion.items.length;
        highlight();
        break;
      case "Tab":
      case "Enter":
        if (event.shiftKey || event.altKey) return;
        acceptSuggestion();
        break;
      case "Escape":
        closeSuggestions();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  queryInput.addEventListener("blur", closeSuggestions);
  queryInput.addEventListener("click", closeSuggestions);
  queryInput.addEventListener("scroll", () => { if (completion) placeSuggestions(); });

  // ------------------------------------------------------------------------------------------
  // Wiring

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  });

  for (const input of [p1Input, p2Input, formattedInput, ...platformInputs]) {
    input.addEventListener("input", updateOtherFormats);
    input.addEventListener("change", updateOtherFormats);
  }
  window.addEventListener("resize", () => { if (completion) placeSuggestions(); });
  updateOtherFormats();
})();
