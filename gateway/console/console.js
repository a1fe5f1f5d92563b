// tagpulse console: reads the public REST API of the gateway that serves this page (docs/api.md)
// and draws it with the vendored Chart.js and chartjs-chart-geo. No build step, no other origin.
"use strict";

(() => {
  const COLORS = { blue: "#0072b2", orange: "#e69f00", grey: "#8c8c8c" }; // Okabe-Ito, safe for colour blindness
  // The map's scale: from a pale blue that still stands out from the grey of "no posts" to a dark one.
  const MAP_STOPS = [[198, 222, 242], [66, 146, 198], [8, 48, 107]];
  const STREAM_POLL_MS = 2000; // while a stream runs
  const IDLE_POLL_MS = 15000; // to notice streams and runs started elsewhere
  const RUN_POLL_MS = 1000; // while a collection runs
  const number = new Intl.NumberFormat("en");
  const languageNames = displayNames("language");
  const regionNames = displayNames("region");

  Chart.register(ChartGeo.ChoroplethController, ChartGeo.GeoFeature, ChartGeo.ColorScale, ChartGeo.ProjectionScale);
  Chart.defaults.animation = false; // figures must be readable at once, and motion helps nobody here
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.datasets.bar.maxBarThickness = 48; // one run or one stream is not a wall
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;

  // The chart sections, in the page's order: each one's chart descriptions (one canvas each, the
  // extra class sizing it), its table's caption and columns ("#" marks a number), and the words
  // for "nothing yet". The figure's layout: "wide" puts the table under the chart.
  const SECTIONS = [
    {
      id: "hour-of-day", title: "Posts by hour of the day",
      note: "Hours of the day in the chosen time zone; each post counted once, whatever its hashtags.",
      charts: [["Bar chart of posts per hour of the day, 0 to 23"]],
      caption: "Posts by hour of the day", columns: ["Hour", "#Posts"],
      empty: "No posts yet: start a collection below (make run collects the sample).",
    },
    {
      id: "timeline", title: "Posts per hour",
      note: "Every hour from the oldest stored post to the newest (at most a year), in the chosen time zone;",
      charts: [["Line chart of posts per hour over time; the table lists the hours with posts"]],
      caption: "Hours with posts (hours without any are left out)", columns: ["Hour starting", "#Posts"],
      empty: "No posts yet.",
    },
    {
      id: "top-users", title: "Top users by followers", layout: "wide",
      note: "Distinct users of the sample, most followers first, with their latest follower count.",
      charts: [["Bar chart of the top users' followers"]],
      caption: "Top users", columns: ["##", "User", "Name", "#Followers", "#Posts", "Country"],
      empty: "No users yet.",
    },
    {
      id: "languages", title: "Posts per language",
      note: "As the platform reports it; a post with two of the hashtags counts once under each.",
      charts: [["Bar chart of posts per language, largest first (at most 15 bars); the table has every language"]],
      caption: "Posts per language", columns: ["Language", "#Posts"],
      empty: "No posts yet.",
    },
    {
      id: "countries", title: "Posts per country", layout: "countries",
      note: "From the post's place, else the author's profile location; unknown when neither says. " +
        "A post with two of the hashtags counts once under each.",
      charts: [
        ["World map, each country shaded by its number of posts, grey for none", "map"],
        ["Bar chart of posts per country, unknown included, largest first (at most 15 bars); the table has every country", "bars"],
      ],
      caption: "Posts per country", columns: ["Country", "#Posts"],
      empty: "No posts yet.",
    },
    {
      id: "collections", title: "Last collection runs", layout: "wide",
      note: "All hashtags, newest first; a run that is still running updates here.",
      charts: [["Stacked bar chart of each run's new and duplicate posts, oldest run first"]],
      caption: "Collection runs",
      columns: ["Run", "State", "Source", "Started", "#Took", "#Fetched", "#New", "#Duplicate", "#Errors"],
      empty: "No collection runs yet.",
    },
    {
      id: "streams", title: "Keyword streams", layout: "wide",
      note: "Newest first; the figures of a running stream update every two seconds. Matched = unique + duplicate.",
      charts: [["Bar chart of each stream's received, matched and unique posts"]],
      caption: "Keyword streams",
      columns: ["Stream", "State", "Source", "Rules", "#Received", "#Matched", "#Unique", "#New", "Stop"],
      empty: "No keyword streams yet: start one below.",
    },
  ];

  // The API token lives in this variable (and its input field) only: never in storage or the URL.
  let token = "";
  let view = { hashtag: "", timeZone: "UTC" };
  const charts = new Map();
  let countryShapes = null;
  let pollTimer = null;

  // ---- calling the API -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  async function api(path, params = {}, init = {}) {
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(params)) {
      if (value !== "" && value !== undefined && value !== null) url.searchParams.set(name, value);
    }
    const response = await fetch(url, { ...init, headers: { Accept: "application/json", ...init.headers } });
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null; // Envoy answers a few errors in text/plain
    }
    if (!response.ok) {
      const message = body && typeof body.message === "string" ? body.message : text.trim();
      throw new ApiError(response.status, message, response.headers.get("retry-after"));
    }
    return body;
  }

  // Every row of a paged list: the pages one after the other, as large as the API gives them.
  async function allRows(path, params, field) {
    const rows = [];
    let pageToken = "";
    do {
      const body = await api(path, { ...params, pageSize: 1000, pageToken });
      rows.push(...(body[field] || []));
      pageToken = body.nextPageToken || "";
    } while (pageToken);
    return rows;
  }

  function send(method, path, body) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return api(path, {}, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  /** What went wrong, in words a person can act on. */
  function explain(error) {
    if (!(error instanceof ApiError)) {
      return `Could not reach the tagpulse gateway (${error.message}). Is it running?`;
    }
    const said = error.message ? `: ${error.message}` : ".";
    switch (error.status) {
      case 400:
        return `The API refused the request (400 Bad Request)${said}`;
      case 401:
        return "The API token was refused (401 Unauthorized). Paste the token the stack runs with " +
          "(TAGPULSE_API_TOKEN; make run prints it and keeps it in var/dev-api-token).";
      case 429: {
        const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : " Try again shortly.";
        return `Too many requests (429 Too Many Requests): the gateway's rate limit for this address.${wait}`;
      }
      case 503:
        return `A tagpulse service is unavailable (503 Service Unavailable)${said} ` +
          "It may be starting or stopped; the page tries again on its next refresh.";
      default:
        return `The API answered ${error.status}${said}`;
    }
  }

  // ---- drawing ---------------------------------------------------------------------------------

  function displayNames(type) {
    try {
      return new Intl.DisplayNames(["en"], { type });
    } catch {
      return null;
    }
  }

  /** A language's or country's English name; the code itself where the browser knows none. */
  function nameOf(names, code) {
    try {
      return (names && names.of(code)) || code;
    } catch {
      return code;
    }
  }

  const languageName = (code) => (code === "und" || code === "" ? "undetermined" : nameOf(languageNames, code));
  const countryName = (code) => (code === "unknown" || code === "" ? "unknown" : nameOf(regionNames, code));

  const count = (value) => Number(value || 0); // int64 figures arrive as strings
  const formatted = (value) => number.format(count(value));

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  /** Fills a table body: one array of cells (text, or [text, class], or a Node) per row. */
  function fillTable(section, rows) {
    const body = section.querySelector("tbody");
    body.replaceChildren(
      ...rows.map((cells) => {
        const tr = document.createElement("tr");
        for (const value of cells) {
          if (value instanceof Node) {
            const td = document.createElement("td");
            td.append(value);
            tr.append(td);
          } else if (Array.isArray(value)) {
            tr.append(cell(value[0], value[1]));
          } else {
            tr.append(cell(value));
          }
        }
        return tr;
      }),
    );
  }

  function draw(canvas, config) {
    const existing = charts.get(canvas);
    if (existing && existing.config.type === config.type) {
      existing.data = config.data;
      existing.options = config.options;
      existing.update();
      return;
    }
    if (existing) existing.destroy();
    charts.set(canvas, new Chart(canvas, config));
  }

  function barOptions(extra = {}) {
    return {
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      ...extra,
    };
  }

  function showError(section, error) {
    const message = section.querySelector(".message");
    message.textContent = explain(error);
    message.hidden = false;
    section.querySelector(".figure").hidden = true; // the message instead of an empty chart
    section.querySelector(".empty").hidden = true;
  }

  /** Loads one section: its figure when `fill` found data, its "empty" note when it found none (an
   * empty chart says nothing), its message when the API failed. */
  async function load(id, fill) {
    const section = document.getElementById(id);
    section.setAttribute("aria-busy", "true");
    try {
      const found = await fill(section);
      section.querySelector(".message").hidden = true;
      section.querySelector(".empty").hidden = found;
      section.querySelector(".figure").hidden = !found;
      charts.forEach((chart, canvas) => section.contains(canvas) && chart.resize());
      return true;
    } catch (error) {
      showError(section, error);
      return false;
    } finally {
      section.setAttribute("aria-busy", "false");
    }
  }

  // ---- the sections ----------------------------------------------------------------------------

  async function hourOfDay(section) {
    const answer = await api("/v1/posts:countByHour", { mode: "HOUR_OF_DAY", timeZone: view.timeZone, hashtag: view.hashtag });
    const hours = answer.hours || [];
    const label = (row) => `${String(row.hourOfDay || 0).padStart(2, "0")}:00`;
    fillTable(section, hours.map((row) => [label(row), [formatted(row.postCount), "num"]]));
    draw(section.querySelector("canvas"), {
      type: "bar",
      data: { labels: hours.map(label), datasets: [{ label: "Posts", data: hours.map((row) => count(row.postCount)), backgroundColor: COLORS.blue }] },
      options: barOptions(),
    });
    return count(answer.totalPosts) > 0;
  }

  async function timeline(section) {
    const answer = await api("/v1/posts:countByHour", { mode: "TIMELINE", timeZone: view.timeZone, hashtag: view.hashtag });
    const hours = answer.hours || [];
    // localHourStart is "2024-05-01T14:00:00+05:30": the wall clock of the chosen zone.
    const label = (row) => row.localHourStart.slice(0, 16).replace("T", " ");
    const offset = (row) => row.localHourStart.slice(19) || "Z";
    fillTable(
      section,
      hours.filter((row) => count(row.postCount) > 0).map((row) => [`${label(row)} (${offset(row)})`, [formatted(row.postCount), "num"]]),
    );
    section.querySelector(".total").textContent =
      `${formatted(answer.totalPosts)} posts in ${number.format(hours.length)} hours.`;
    draw(section.querySelector("canvas"), {
      type: "line",
      data: {
        labels: hours.map(label),
        datasets: [{ label: "Posts", data: hours.map((row) => count(row.postCount)), borderColor: COLORS.blue, backgroundColor: COLORS.blue, pointRadius: hours.length > 200 ? 0 : 2, borderWidth: 1.5 }],
      },
      options: barOptions({ scales: { x: { ticks: { maxTicksLimit: 8, maxRotation: 0 } }, y: { beginAtZero: true, ticks: { precision: 0 } } } }),
    });
    return hours.length > 0;
  }

  async function topUsers(section) {
    const answer = await api("/v1/users:top", { limit: 10, hashtag: view.hashtag });
    const users = answer.users || [];
    fillTable(
      section,
      users.map((user, index) => [
        [String(index + 1), "num"], `@${user.username}`, user.displayName, [formatted(user.followersCount), "num"],
        [formatted(user.postCount), "num"], countryName(user.countryCode),
      ]),
    );
    draw(section.querySelector("canvas"), {
      type: "bar",
      data: { labels: users.map((user) => `@${user.username}`), datasets: [{ label: "Followers", data: users.map((user) => count(user.followersCount)), backgroundColor: COLORS.blue }] },
      options: barOptions({ indexAxis: "y", scales: { x: { beginAtZero: true } } }),
    });
    return users.length > 0;
  }

  /** The (hashtag, language, country) rows, added up by one of their keys, largest first. */
  function totals(rows, key) {
    const sums = new Map();
    for (const row of rows) sums.set(row[key], (sums.get(row[key]) || 0) + count(row.postCount));
    return [...sums].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
  }

  async function languagesAndCountries() {
    // Every hashtag × language × country row: the page sums them by language and by country.
    const answer = allRows("/v1/posts:countByHashtag", { hashtag: view.hashtag }, "counts");
    const shapes = loadCountryShapes();
    await Promise.all([
      load("languages", async (section) => languages(section, await answer)),
      load("countries", async (section) => countries(section, await answer, await shapes)),
    ]);
  }

  function languages(section, rows) {
    const byLanguage = totals(rows, "language");
    fillTable(section, byLanguage.map(([code, posts]) => [`${languageName(code)} (${code})`, [number.format(posts), "num"]]));
    const top = byLanguage.slice(0, 15);
    draw(section.querySelector("canvas"), {
      type: "bar",
      data: { labels: top.map(([code]) => code), datasets: [{ label: "Posts", data: top.map(([, posts]) => posts), backgroundColor: COLORS.blue }] },
      options: barOptions({ plugins: { legend: { display: false }, tooltip: { callbacks: { title: (items) => languageName(items[0].label) } } } }),
    });
    return rows.length > 0;
  }

  async function loadCountryShapes() {
    if (!countryShapes) {
      const topology = await api("/console/vendor/countries-110m.json");
      countryShapes = ChartGeo.topojson.feature(topology, topology.objects.countries).features;
    }
    return countryShapes;
  }

  function mapColor(share) {
    const half = share < 0.5 ? 0 : 1;
    const within = share < 0.5 ? share * 2 : share * 2 - 1;
    const [from, to] = [MAP_STOPS[half], MAP_STOPS[half + 1]];
    const [r, g, b] = from.map((value, index) => Math.round(value + (to[index] - value) * within));
    return `rgb(${r}, ${g}, ${b})`;
  }

  function countries(section, rows, shapes) {
    const byCountry = totals(rows, "countryCode");
    const posts = new Map(byCountry);
    fillTable(section, byCountry.map(([code, total]) => [code === "unknown" ? "unknown" : `${countryName(code)} (${code})`, [number.format(total), "num"]]));
    const [mapCanvas, barsCanvas] = section.querySelectorAll("canvas");
    draw(mapCanvas, {
      type: "choropleth",
      data: {
        labels: shapes.map((shape) => shape.properties.name),
        datasets: [{
          label: "Posts",
          outline: shapes,
          // No posts: no value, drawn in the scale's "missing" grey rather than the palest blue.
          data: shapes.map((shape) => ({ feature: shape, value: posts.get(shape.id) ?? null })),
          borderColor: "#777",
          borderWidth: 0.5,
        }],
      },
      options: {
        showOutline: true,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => `${item.raw.feature.properties.name}: ${number.format(item.raw.value ?? 0)} posts` } },
        },
        scales: {
          projection: { axis: "x", projection: "equalEarth" },
          color: { axis: "x", quantize: 5, interpolate: mapColor, missing: "#e8e8e8", legend: { position: "bottom-left", align: "bottom" } },
        },
      },
    });
    const top = byCountry.slice(0, 15);
    draw(barsCanvas, {
      type: "bar",
      data: {
        labels: top.map(([code]) => code),
        datasets: [{ label: "Posts", data: top.map(([, total]) => total), backgroundColor: top.map(([code]) => (code === "unknown" ? COLORS.grey : COLORS.blue)) }],
      },
      options: barOptions({ indexAxis: "y", scales: { x: { beginAtZero: true } }, plugins: { legend: { display: false }, tooltip: { callbacks: { title: (items) => countryName(items[0].label) } } } }),
    });
    return rows.length > 0;
  }

  const timeFormat = () =>
    new Intl.DateTimeFormat("en-GB", { timeZone: view.timeZone, dateStyle: "short", timeStyle: "medium" });

  function duration(start, end) {
    if (!start || !end) return "running";
    const seconds = (Date.parse(end) - Date.parse(start)) / 1000;
    return seconds < 60 ? `${seconds.toFixed(1)} s` : `${(seconds / 60).toFixed(1)} min`;
  }

  let runsRunning = false;

  async function collections(section) {
    const answer = await api("/v1/collections", { pageSize: 10 });
    const runs = answer.collections || [];
    const format = timeFormat();
    runsRunning = runs.some((run) => run.state === "RUNNING");
    fillTable(
      section,
      runs.map((run) => {
        const figures = run.figures || {};
        return [
          run.id, run.state, run.source, run.startTime ? format.format(new Date(run.startTime)) : "",
          [duration(run.startTime, run.endTime), "num"], [formatted(figures.postsFetched), "num"],
          [formatted(figures.postsNew), "num"], [formatted(figures.postsDuplicate), "num"], [formatted(figures.errors), "num"],
        ];
      }),
    );
    const oldestFirst = [...runs].reverse();
    draw(section.querySelector("canvas"), {
      type: "bar",
      data: {
        labels: oldestFirst.map((run) => `run ${run.id}`),
        datasets: [
          { label: "New", data: oldestFirst.map((run) => count(run.figures && run.figures.postsNew)), backgroundColor: COLORS.blue },
          { label: "Duplicate", data: oldestFirst.map((run) => count(run.figures && run.figures.postsDuplicate)), backgroundColor: COLORS.orange },
        ],
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
    return runs.length > 0;
  }

  let streamsRunning = false;

  function stopButton(stream) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Stop";
    button.setAttribute("aria-label", `Stop stream ${stream.id}`);
    button.addEventListener("click", () => act(button, async () => {
      const stopped = await send("DELETE", `/v1/streams/${encodeURIComponent(stream.id)}`);
      await load("streams", streams);
      return `Stream ${stopped.id} is ${stopped.state}.`;
    }));
    return button;
  }

  async function streams(section) {
    const answer = await api("/v1/streams", { pageSize: 10 });
    const list = answer.streams || [];
    streamsRunning = list.some((stream) => stream.state === "RUNNING" || stream.state === "STOPPING");
    fillTable(
      section,
      list.map((stream) => [
        stream.id, stream.state, stream.source, [(stream.rules || []).map((rule) => rule.value).join("\n"), "rules"],
        [formatted(stream.postsReceived), "num"], [formatted(stream.postsMatched), "num"],
        [formatted(stream.postsUnique), "num"], [formatted(stream.postsNew), "num"],
        stream.state === "RUNNING" ? stopButton(stream) : "",
      ]),
    );
    const series = (label, key, color) => ({ label, data: list.map((stream) => count(stream[key])), backgroundColor: color });
    draw(section.querySelector("canvas"), {
      type: "bar",
      data: {
        labels: list.map((stream) => `stream ${stream.id}`),
        datasets: [series("Received", "postsReceived", COLORS.grey), series("Matched", "postsMatched", COLORS.orange), series("Unique", "postsUnique", COLORS.blue)],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    return list.length > 0;
  }

  // ---- refreshing ------------------------------------------------------------------------------

  async function refreshAll() {
    const status = document.getElementById("status");
    status.textContent = "Loading…";
    const results = await Promise.all([
      load("hour-of-day", hourOfDay), load("timeline", timeline), load("top-users", topUsers),
      languagesAndCountries().then(() => true), load("collections", collections), load("streams", streams),
    ]);
    const what = view.hashtag ? `#${view.hashtag}` : "all hashtags";
    const when = new Intl.DateTimeFormat("en-GB", { timeStyle: "medium" }).format(new Date());
    status.textContent = results.every(Boolean) ? `Showing ${what} in ${view.timeZone}, as of ${when}.` : `Showing ${what} in ${view.timeZone}, as of ${when}; some parts could not be loaded (see their messages).`;
    schedulePoll();
  }

  /** Streams (and a running collection) update on their own; the summaries change when a run ends. */
  function schedulePoll() {
    clearTimeout(pollTimer);
    const delay = runsRunning ? RUN_POLL_MS : streamsRunning ? STREAM_POLL_MS : IDLE_POLL_MS;
    pollTimer = setTimeout(poll, delay);
  }

  async function poll() {
    if (document.hidden) return schedulePoll();
    const wasRunning = runsRunning;
    await Promise.all([load("streams", streams), load("collections", collections)]);
    if (wasRunning && !runsRunning) return refreshAll(); // a run ended: new posts to count
    schedulePoll();
  }

  // ---- the page --------------------------------------------------------------------------------

  function buildSections() {
    const template = document.getElementById("chart-section");
    document.getElementById("sections").replaceChildren(
      ...SECTIONS.map(({ id, title, note, charts: descriptions, caption, columns, empty, layout }) => {
        const section = template.content.firstElementChild.cloneNode(true);
        section.id = id;
        section.setAttribute("aria-labelledby", `${id}-title`);
        Object.assign(section.querySelector("h2"), { id: `${id}-title`, textContent: title });
        section.querySelector(".note").textContent = note;
        if (id === "timeline") section.querySelector(".note").append(" ", Object.assign(document.createElement("span"), { className: "total" }));
        section.querySelector(".empty").textContent = empty;
        const figure = section.querySelector(".figure");
        if (layout) figure.classList.add(layout);
        figure.prepend(
          ...descriptions.map(([description, size]) => {
            const holder = document.createElement("div");
            holder.className = size ? `chart ${size}` : "chart";
            const canvas = document.createElement("canvas");
            canvas.setAttribute("role", "img");
            canvas.setAttribute("aria-label", `${description}; the table beside it has the numbers.`);
            holder.append(canvas);
            return holder;
          }),
        );
        section.querySelector(".table").setAttribute("aria-labelledby", `${id}-caption`);
        Object.assign(section.querySelector("caption"), { id: `${id}-caption`, textContent: caption });
        section.querySelector("thead tr").append(
          ...columns.map((column) => {
            const th = document.createElement("th");
            th.scope = "col";
            th.textContent = column.startsWith("#") ? column.slice(1) : column;
            if (column.startsWith("#")) th.className = "num";
            return th;
          }),
        );
        return section;
      }),
    );
  }

  // ---- the controls ----------------------------------------------------------------------------

  function readView() {
    const params = new URLSearchParams(location.search);
    const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    view = { hashtag: params.get("hashtag") || "", timeZone: params.get("timeZone") || browserZone };
    document.getElementById("time-zone").value = view.timeZone;
  }

  async function fillHashtags() {
    const select = document.getElementById("hashtag");
    try {
      const answer = await api("/v1/hashtags", { pageSize: 1000 });
      for (const hashtag of answer.hashtags || []) {
        select.append(new Option(`#${hashtag.name} (${formatted(hashtag.postCount)} posts)`, hashtag.name));
      }
    } catch (error) {
      document.getElementById("status").textContent = `The hashtags could not be listed: ${explain(error)}`;
    }
    if (view.hashtag && ![...select.options].some((option) => option.value === view.hashtag)) {
      select.append(new Option(`#${view.hashtag}`, view.hashtag));
    }
    select.value = view.hashtag;
  }

  function fillTimeZones() {
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    document.getElementById("time-zones").replaceChildren(...["UTC", ...zones].map((zone) => new Option(zone)));
  }

  /** Runs an action with the token: its button busy meanwhile, its outcome in the Collect section. */
  async function act(button, action) {
    const section = document.getElementById("collect");
    const message = section.querySelector(".message");
    const done = section.querySelector(".done");
    message.hidden = true;
    done.textContent = "";
    button.disabled = true;
    try {
      done.textContent = await action();
    } catch (error) {
      message.textContent = explain(error);
      message.hidden = false;
      message.scrollIntoView({ block: "nearest" });
    } finally {
      button.disabled = false;
    }
  }

  /** The sources a collection or a stream can read (docs/sources.md); empty: the collector's choice. */
  function fillSources() {
    for (const select of document.querySelectorAll("select.sources")) {
      select.replaceChildren(new Option("the collector's default", ""), ...["sample", "x", "mastodon", "bluesky"].map((source) => new Option(source)));
    }
  }

  function start() {
    buildSections();
    fillSources();
    readView();
    fillTimeZones();
    document.getElementById("token").addEventListener("input", (event) => {
      token = event.target.value.trim();
    });
    document.getElementById("token-form").addEventListener("submit", (event) => event.preventDefault());
    document.getElementById("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      view = { hashtag: document.getElementById("hashtag").value, timeZone: document.getElementById("time-zone").value.trim() || "UTC" };
      const params = new URLSearchParams();
      if (view.hashtag) params.set("hashtag", view.hashtag);
      params.set("timeZone", view.timeZone);
      history.replaceState(null, "", `?${params}`);
      refreshAll();
    });
    document.getElementById("start-collection").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      const hashtags = form.hashtags.value.split(",").map((tag) => tag.trim()).filter(Boolean);
      const body = { hashtags, maxPostsPerHashtag: Number(form.maxPostsPerHashtag.value || 0), source: form.source.value };
      act(form.querySelector("button"), async () => {
        const run = await send("POST", "/v1/collections", body);
        runsRunning = true; // so that poll() loads every section again once the run has ended
        poll();
        return `Collection run ${run.id} started (${run.source}); it shows under “Last collection runs”.`;
      });
    });
    document.getElementById("start-stream").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      const rules = form.rules.value.split("\n").map((value) => value.trim()).filter(Boolean).map((value) => ({ value }));
      act(form.querySelector("button"), async () => {
        const stream = await send("POST", "/v1/streams", { rules, source: form.source.value });
        await load("streams", streams);
        schedulePoll();
        return `Stream ${stream.id} started (${stream.source}); its figures update under “Keyword streams”.`;
      });
    });
    document.addEventListener("visibilitychange", () => !document.hidden && schedulePoll());
    fillHashtags().then(refreshAll);
  }

  start();
})();
