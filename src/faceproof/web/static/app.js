// faceproof web page: enrol, verify and identify through the JSON API of the same origin.
// Plain DOM, no framework and no build step. Every value from the server or the user is put in the page with
// textContent (never innerHTML), so a profile name cannot inject markup; the CSP forbids inline script anyway.
"use strict";

// MediaPipe face-mesh contour edges (eyes, brows, lips, face oval) and iris rings, as flat [a, b, a, b, ...] lists
// (mediapipe.python.solutions.face_mesh_connections.FACEMESH_CONTOURS and FACEMESH_IRISES).
const CONTOURS = [0,267,7,163,10,338,13,312,14,317,17,314,21,54,33,7,33,246,37,0,39,37,40,39,46,53,52,65,53,52,54,103,58,132,61,146,61,185,63,105,65,55,66,107,67,109,70,63,78,95,78,191,80,81,81,82,82,13,84,17,87,14,88,178,91,181,93,234,95,88,103,67,105,66,109,10,127,162,132,93,136,172,144,145,145,153,146,91,148,176,149,150,150,136,152,148,153,154,154,155,155,133,157,173,158,157,159,158,160,159,161,160,162,21,163,144,172,58,173,133,176,149,178,87,181,84,185,40,191,80,234,127,246,161,249,390,251,389,263,249,263,466,267,269,269,270,270,409,276,283,282,295,283,282,284,251,288,397,293,334,295,285,296,336,297,332,300,293,310,415,311,310,312,311,314,405,317,402,318,324,321,375,323,361,324,308,332,284,334,296,338,297,356,454,361,288,365,379,373,374,374,380,375,291,377,152,378,400,379,378,380,381,381,382,382,362,384,398,385,384,386,385,387,386,388,387,389,356,390,373,397,365,398,362,400,377,402,318,405,321,409,291,415,308,454,323,466,388];
const IRIS_CENTRES = [468, 473];
const IRIS_RINGS = [[469, 470, 471, 472], [474, 475, 476, 477]];

// Every word and colour of a verdict comes from the server (`headline`, and each finding's, match's and candidate's
// `tone` and `sentence`: faceproof.decision.wording), so the page cannot say "matches" where the decision does not.
// The page only draws a tone: its colour (app.css) and this mark.
const MARKS = { pass: "\u2713", fail: "\u2717", warn: "!", neutral: "?" };

const $ = (id) => document.getElementById(id);
const chosenFiles = new Map(); // file input id -> File[]

/** Create an element: el("p", {class: "x"}, "text", child, ...). Strings become text nodes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const pct = (p, digits = 1) => `${(100 * p).toFixed(digits)}%`;
/** A probability with enough digits to tell 99.997% from 100% and 0.004% from 0%. */
const prob = (p) => pct(p, p > 0.999 || p < 0.001 ? 3 : 1);
const num = (x, digits = 2) => (x === null || x === undefined ? "\u2013" : Number(x).toFixed(digits));
const signed = (x) => `${x >= 0 ? "+" : "\u2212"}${Math.abs(x).toFixed(1)}\u00b0`;
const sigmoid = (x) => 1 / (1 + Math.exp(-x));
const human = (s) => String(s).replaceAll("_", " ");

// ---- API ---------------------------------------------------------------------------------------------------------

/** An error to show in the page: `code` is the server's error code, absent for checks made by the page itself. */
class ApiError extends Error {
  constructor(message, code, details) {
    super(message);
    this.code = code;
    this.details = details || {};
  }
}

// The API key (when the server has keys configured) lives in sessionStorage: this tab only, gone when it closes,
// and sent as an Authorization header - never in a URL, where it would end up in logs and history.
const KEY_STORAGE = "faceproof.apiKey";

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function setupKey() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    $("key-box").open = false;
    clearError("verify");
    loadProfiles().catch((error) => showError("verify", "Could not load the profiles", error));
  });
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json", ...authHeaders() }, ...options });
  } catch {
    throw new ApiError("The server could not be reached. Is faceproof still running?", "network_error");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const err = body && body.error;
    if (response.status === 401 || response.status === 403) $("key-box").open = true;
    if (err) throw new ApiError(err.message, err.code, err.details);
    throw new ApiError(`The server answered ${response.status} ${response.statusText}.`, `http_${response.status}`);
  }
  if (body === null) throw new ApiError("The server sent an answer that is not JSON.", "bad_response");
  return body;
}

function showError(name, title, error) {
  const box = $(`${name}-error`);
  const lines = [error.message];
  const d = error.details || {};
  if (d.reason) lines.push(`Reason: ${human(d.reason)}.`);
  if (Array.isArray(d.quality_reasons) && d.quality_reasons.length) lines.push(`Photo problems: ${d.quality_reasons.map(human).join(", ")}.`);
  box.replaceChildren(el("strong", {}, title), ...lines.map((line) => el("span", {}, line, " ")), error.code ? el("small", {}, `(${error.code})`) : null);
  box.hidden = false;
  $(`${name}-result`).replaceChildren();
}

function clearError(name) {
  const box = $(`${name}-error`);
  box.hidden = true;
  box.replaceChildren();
}

/** Run one form action: busy state, clear old error, show a readable error on failure. */
async function act(name, title, busyText, work) {
  const form = $(`${name}-form`);
  const button = form.querySelector("button[type=submit]");
  clearError(name);
  button.disabled = true;
  $(`${name}-result`).replaceChildren(el("p", { class: "busy" }, busyText));
  try {
    await work();
  } catch (error) {
    showError(name, title, error instanceof ApiError ? error : new ApiError(String(error.message || error)));
  } finally {
    button.disabled = false;
  }
}

function requireFiles(inputId, what) {
  const files = chosenFiles.get(inputId) || [];
  if (!files.length) throw new ApiError(`Choose ${what} first: drop on the box, or press it to open the file dialog.`);
  return files;
}

// ---- tabs and drop zones -------------------------------------------------------------------------------------------

function selectTab(tab) {
  for (const other of document.querySelectorAll("[role=tab]")) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  tab.focus();
}

function setupTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const i = tabs.indexOf(tab);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length]);
    });
  }
}

function setFiles(input, files) {
  const list = input.multiple ? [...files] : [...files].slice(0, 1);
  chosenFiles.set(input.id, list);
  const label = $(input.id.replace(/-files?$/, "-chosen"));
  label.textContent = list.length ? list.map((f) => f.name).join(", ") : "No photo chosen";
}

function setupDropZones() {
  // A file dropped outside a zone must not make the browser navigate away from the page.
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (event) => event.preventDefault());
  for (const zone of document.querySelectorAll(".drop")) {
    const input = $(zone.dataset.input);
    zone.addEventListener("click", () => input.click());
    input.addEventListener("change", () => setFiles(input, input.files));
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) setFiles(input, event.dataTransfer.files);
    });
  }
}

// ---- drawing -----------------------------------------------------------------------------------------------------

/** The photo decoded by the browser (EXIF orientation applied, like the server), or null if it cannot decode it. */
async function bitmapOf(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return null;
  }
}

/** A canvas with the face crop (box plus a margin) and the mesh drawn over it. */
function faceCanvas(bitmap, analysis, size = 600) {
  const face = analysis.subject.face;
  const [bx, by, bw, bh] = face.box;
  const side = Math.max(bw, bh) * 1.35;
  const sx = bx + bw / 2 - side / 2;
  const sy = by + bh / 2 - side / 2;
  const scale = size / side;
  const canvas = el("canvas", { width: size, height: size, role: "img", "aria-label": "Face crop of the first photo with the measured face mesh drawn over it" });
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#222";
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(bitmap, sx, sy, side, side, 0, 0, size, size);
  const lm = analysis.subject.landmarks;
  const at = (i) => [(lm[i][0] - sx) * scale, (lm[i][1] - sy) * scale];
  ctx.lineWidth = 2;
  ctx.strokeStyle = "rgba(46, 204, 113, 0.95)";
  ctx.strokeRect((bx - sx) * scale, (by - sy) * scale, bw * scale, bh * scale);
  if (!lm) return canvas;
  ctx.fillStyle = "rgba(255, 255, 255, 0.75)";
  for (let i = 0; i < lm.length; i++) {
    const [x, y] = at(i);
    ctx.fillRect(x - 1, y - 1, 2.2, 2.2);
  }
  ctx.strokeStyle = "rgba(255, 255, 255, 0.95)";
  ctx.lineWidth = 1.6;
  ctx.beginPath();
  for (let k = 0; k < CONTOURS.length; k += 2) {
    ctx.moveTo(...at(CONTOURS[k]));
    ctx.lineTo(...at(CONTOURS[k + 1]));
  }
  ctx.stroke();
  ctx.strokeStyle = "#00c8ff";
  ctx.lineWidth = 2.5;
  IRIS_CENTRES.forEach((centre, side) => {
    const [cx, cy] = at(centre);
    const r = IRIS_RINGS[side].reduce((sum, i) => sum + Math.hypot(at(i)[0] - cx, at(i)[1] - cy), 0) / 4;
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    ctx.stroke();
  });
  return canvas;
}

/** A small canvas showing the whole photo (for the verify result). */
function photoCanvas(bitmap, label, width = 400) {
  const height = Math.round((bitmap.height / bitmap.width) * width);
  const canvas = el("canvas", { width, height, role: "img", "aria-label": label });
  canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
  return canvas;
}

/** CIELAB (D65) to an sRGB CSS colour, for the iris colour swatches. */
function labToCss(L, a, b) {
  const fy = (L + 16) / 116;
  const fx = fy + a / 500;
  const fz = fy - b / 200;
  const inv = (t) => (t ** 3 > 0.008856 ? t ** 3 : (t - 16 / 116) / 7.787);
  const [x, y, z] = [0.95047 * inv(fx), inv(fy), 1.08883 * inv(fz)];
  const lin = [3.2406 * x - 1.5372 * y - 0.4986 * z, -0.9689 * x + 1.8758 * y + 0.0415 * z, 0.0557 * x - 0.204 * y + 1.057 * z];
  const gamma = (c) => (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);
  const [r, g, bl] = lin.map((c) => Math.round(255 * Math.min(1, Math.max(0, gamma(c)))));
  return `rgb(${r}, ${g}, ${bl})`;
}

function facts(rows) {
  return el("dl", { class: "facts" }, rows.filter(Boolean).map(([name, value]) => el("div", {}, el("dt", {}, name), el("dd", {}, value))));
}

/** A horizontal bar: value 0..1, optional threshold tick, a caption with left and right text. */
function meter(label, value, { tick = null, tone = "", right = "" } = {}) {
  const bar = el("div", { class: "bar", role: "meter", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": (100 * value).toFixed(1), "aria-label": label });
  const fill = el("div", { class: `fill ${tone}` });
  fill.style.width = pct(Math.min(1, Math.max(0, value)), 2);
  bar.append(fill);
  if (tick !== null) {
    const mark = el("div", { class: "tick", title: `threshold ${pct(tick)}` });
    mark.style.left = pct(tick, 2);
    bar.append(mark);
  }
  return el("div", { class: `meter${tick !== null ? " has-tick" : ""}` }, el("div", { class: "caption" }, el("span", {}, label), el("span", {}, right)), bar);
}

// ---- enrol -------------------------------------------------------------------------------------------------------

function irisText(iris) {
  if (!iris) return "not measured";
  const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
  swatch.style.background = labToCss(iris.L, iris.a, iris.b);
  return el("span", {}, swatch, iris.name);
}

function profileCard(profile, analysis, bitmap, view) {
  const s = analysis ? analysis.subject : null;
  const g = s && s.geometry;
  const a = s && s.appearance;
  const q = s && s.quality;
  const picture = bitmap && s ? faceCanvas(bitmap, analysis) : el("p", { class: "none" }, "No preview: this browser cannot decode the photo.");
  const info = [
    el("h2", {}, profile.name || "(unnamed)"),
    el("div", { class: "id" }, `profile ${profile.id} \u00b7 ${profile.image_count} photo${profile.image_count === 1 ? "" : "s"}`),
  ];
  if (g) {
    info.push(el("h3", {}, "Geometry (first photo)"), facts([
      ["Yaw (turn)", signed(g.yaw)],
      ["Pitch (nod)", signed(g.pitch)],
      ["Roll (tilt)", signed(g.roll)],
      ["Face shape", s.attributes && s.attributes.face_shape ? s.attributes.face_shape.text : g.face_shape],
      ["Thirds", `${num(g.upper_third)} / ${num(g.middle_third)} / ${num(g.lower_third)}`],
      ["Symmetry", num(g.symmetry, 3)],
      ["Eye spacing / IPD", num(g.intercanthal_ratio, 3)],
      ["Nose width / IPD", num(g.nose_width_ratio, 3)],
      ["Mouth width / IPD", num(g.mouth_width_ratio, 3)],
      ["Face width / IPD", num(g.face_width_ratio, 3)],
      ["Face height / IPD", num(g.face_height_ratio, 3)],
      ["Jaw width / IPD", num(g.jaw_width_ratio, 3)],
    ]));
  }
  if (a) {
    info.push(el("h3", {}, "Appearance (first photo)"), facts([
      ["Skin tone", a.ita_deg === null ? "not measured" : `ITA ${a.ita_deg.toFixed(0)}\u00b0 (${a.ita_category})`],
      ["Right iris", irisText(a.iris_right)],
      ["Left iris", irisText(a.iris_left)],
      a.iris_delta_e !== null ? ["Iris difference \u0394E", num(a.iris_delta_e, 1)] : null,
    ]));
  }
  if (q) {
    const flag = el("span", { class: `flag ${analysis.headline.tone}` }, analysis.headline.text);
    info.push(el("h3", {}, "Quality (first photo)"), el("p", {}, flag), facts([
      ["Sharpness", num(q.sharpness, 0)],
      ["Brightness", num(q.brightness, 0)],
      ["Pupil distance", `${num(q.ipd_px, 0)} px`],
      ["Eyes closed", q.eyes_closed ? "yes" : "no"],
    ]));
  }
  return el("article", { class: "card", "aria-label": `Profile of ${profile.name || "unnamed person"}` }, el("div", {}, picture), el("div", { class: "first-photo" }, info), view);
}

// ---- a profile: description, attributes, enrolment photos, reality baseline ---------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element, like el(): attributes are set as given (SVG presentation attributes, never a style). */
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** One row per enrolment photo: its quality figures and whether it is usable for identity (the server's words). */
function photosTable(images) {
  const rows = images.map((image, i) => {
    const q = image.quality;
    const h = image.headline;
    return el("tr", { "data-image": image.id },
      el("td", { class: "num" }, String(i + 1)),
      el("td", { class: "num" }, num(q.sharpness, 0)),
      el("td", { class: "num" }, `${num(q.box_px, 0)} px`),
      el("td", { class: "num" }, `${num(q.ipd_px, 0)} px`),
      el("td", { class: "num" }, num(q.brightness, 0)),
      el("td", {}, el("span", { class: `flag ${h.tone}` }, h.title), h.tone === "pass" ? null : el("div", { class: "none" }, h.text)));
  });
  return el("table", { class: "photos" },
    el("caption", { class: "visually-hidden" }, "The enrolment photos' quality, in enrolment order"),
    el("thead", {}, el("tr", {}, ["#", "Sharpness", "Face size", "Pupil distance", "Brightness", "Identity"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows));
}

/** The reality baseline as one strip per feature: on a scale of the training images' standard deviation centred
 * on the median real photo (the dashed line), the band a new photo's value must stay within and a dot per
 * enrolment photo. The legend under it is the server's. */
function baselinePlot(baseline) {
  const features = baseline.features;
  const label = 300;
  const width = 760;
  const row = 18;
  const top = 20;
  const half = (width - label - 16) / 2;
  const centre = label + half;
  const z = (f, v) => (v - f.population_median) / f.population_std;
  const values = features.flatMap((f) => [f.low, f.high, ...f.photos.filter((v) => v !== null)].map((v) => Math.abs(z(f, v))));
  const reach = Math.min(12, Math.ceil(Math.max(1, ...values)));
  const x = (v) => centre + (Math.max(-reach, Math.min(reach, v)) / reach) * half;
  const height = top + features.length * row + 4;
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "baseline-plot", role: "img",
    "aria-label": `${baseline.title}: ${features.length} features of ${baseline.image_ids.length} enrolment photo${baseline.image_ids.length === 1 ? "" : "s"}` });
  const step = reach > 6 ? 2 : 1;
  for (let t = -Math.floor(reach / step) * step; t <= reach; t += step) {
    plot.append(svg("line", { class: t === 0 ? "median" : "grid", x1: x(t), x2: x(t), y1: top - 4, y2: height - 4 }),
      svg("text", { class: "tick", x: x(t), y: top - 8, "text-anchor": "middle" }, t > 0 ? `+${t}` : t < 0 ? `\u2212${-t}` : "0"));
  }
  features.forEach((f, i) => {
    const y = top + i * row + row / 2;
    const strip = svg("g", { class: "strip", "data-feature": f.feature },
      svg("text", { class: "label", x: label - 8, y: y + 4, "text-anchor": "end" }, f.label),
      svg("rect", { class: "band", x: x(z(f, f.low)), y: y - 5, width: Math.max(1, x(z(f, f.high)) - x(z(f, f.low))), height: 10, rx: 3 },
        svg("title", {}, `${f.label}: ${num(f.low, 3)} to ${num(f.high, 3)}`)));
    f.photos.forEach((v, k) => {
      if (v === null) return;
      strip.append(svg("circle", { class: "dot", cx: x(z(f, v)), cy: y, r: 4 }, svg("title", {}, `photo ${k + 1}: ${num(v, 3)}`)));
    });
    plot.append(strip);
  });
  return el("figure", { class: "baseline" }, plot, el("figcaption", { class: "none" }, baseline.legend));
}

/** The profile as the server keeps it: description, attribute words, the enrolment photos' quality, and the
 * reality baseline. */
function profileView(profile, images, baseline) {
  const attributes = Object.entries((profile.summary && profile.summary.attributes) || {});
  return el("div", { class: "profile-view", role: "region", "aria-label": `The profile of ${profile.name || "an unnamed person"}` },
    el("h3", {}, "Description"),
    el("p", { class: "desc" }, profile.description),
    el("h3", {}, "Attributes"),
    attributes.length
      ? el("dl", { class: "attributes" }, attributes.map(([name, a]) => [el("dt", {}, human(name)), el("dd", {}, a.text, el("span", { class: "none" }, ` \u00b7 confidence ${pct(a.confidence, 0)}`))]))
      : el("p", { class: "none" }, "No attribute could be read from these photos."),
    el("h3", {}, `Enrolment photos (${images.length})`),
    photosTable(images),
    el("h3", {}, baseline.title),
    baseline.features.length ? baselinePlot(baseline) : el("p", { class: "none" }, baseline.legend));
}

/** The profile view of `id`, or why it could not be read, in its place (not in a form's error box, which would
 * wipe the enrolment card or the verdict beside it). */
async function profileViewOf(id) {
  const path = `/profiles/${encodeURIComponent(id)}`;
  try {
    const [profile, images, baseline] = await Promise.all([api(path), api(`${path}/images`), api(`${path}/reality-baseline`)]);
    return profileView(profile, images, baseline);
  } catch (error) {
    return el("div", { class: "error", role: "alert" }, el("strong", {}, "Could not load the profile"), el("span", {}, error.message));
  }
}

let shownProfile = 0; // the latest request for the Verify tab's profile view: an older answer is dropped

/** The profile chosen on the Verify tab, under "About this profile". */
async function showSelectedProfile() {
  const id = $("verify-profile").value;
  const request = ++shownProfile;
  const content = id ? await profileViewOf(id) : null;
  if (request !== shownProfile) return;
  $("profile-about").hidden = !content;
  $("profile-view").replaceChildren(...(content ? [content] : []));
}

async function enrol() {
  const files = requireFiles("enrol-files", "one or more photos");
  const form = new FormData();
  for (const file of files) form.append("files", file);
  form.append("name", $("enrol-name").value.trim());
  const single = new FormData();
  single.append("file", files[0]);
  const [enrolment, analysis, bitmap] = await Promise.all([
    api("/profiles", { method: "POST", body: form }),
    api("/analyze?include_landmarks=true", { method: "POST", body: single }).catch(() => null),
    bitmapOf(files[0]),
  ]);
  const view = await profileViewOf(enrolment.profile.id);
  $("enrol-result").replaceChildren(profileCard(enrolment.profile, analysis, bitmap, view));
  await loadProfiles(enrolment.profile.id);
}

// ---- verify ------------------------------------------------------------------------------------------------------

async function loadProfiles(selectId = null) {
  const select = $("verify-profile");
  const list = await api("/profiles?limit=500");
  const previous = selectId || select.value;
  if (!list.items.length) {
    select.replaceChildren(el("option", { value: "" }, "No profile yet: enrol someone first"));
  } else {
    select.replaceChildren(...list.items.map((p) => el("option", { value: p.id }, `${p.name || "(unnamed)"} \u2014 ${p.image_count} photo${p.image_count === 1 ? "" : "s"} \u2014 ${p.id.slice(0, 8)}`)));
    if (list.items.some((p) => p.id === previous)) select.value = previous;
  }
  await showSelectedProfile();
}

function verdictFacts(result) {
  const m = result.match;
  const g = result.geometry;
  return [
    ["SFace similarity", num(m.scores.sface, 3)],
    ["dlib similarity", m.scores.dlib === null ? "not needed" : num(m.scores.dlib, 3)],
    ["Fused score", `${num(m.scores.fused, 2)} (threshold ${num(m.threshold, 2)})`],
    ["Geometry", g.outside.length ? `outside the person's range: ${g.outside.map((d) => human(d.measurement)).join(", ")}` : `all ${g.compared} measurements in range`],
  ];
}

/** The fused authenticity estimate, in the colour of the authenticity verdict, and that verdict's sentence. */
function fakeMeter(a) {
  return [
    meter("Fake probability", a.fake_probability, { tick: a.threshold, tone: a.headline.tone, right: a.headline.title }),
    el("p", { class: "none" }, a.headline.text),
  ];
}

// ---- evidence pictures ---------------------------------------------------------------------------------------------

/** A base64 PNG from the server, decoded by the browser (a Blob, not a data: URL, which the CSP's img-src refuses). */
async function pngBitmap(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return createImageBitmap(new Blob([bytes], { type: "image/png" }));
}

/** The server's pictures of where the evidence lies (`evidence`), one canvas each, labelled with their caption. */
function evidenceView(evidence, bitmaps) {
  if (!evidence || !evidence.length) return null;
  const figures = evidence.map((e, i) => {
    const canvas = el("canvas", { width: e.width, height: e.height, role: "img", "aria-label": `${e.headline.title}: ${e.headline.text}` });
    canvas.getContext("2d").drawImage(bitmaps[i], 0, 0);
    return el("figure", { class: `evidence-picture ${e.headline.tone}`, "data-explains": e.explains, "data-kind": e.kind }, canvas);
  });
  return el("section", { class: "evidence", "aria-label": "Where the evidence lies" }, el("h3", {}, "Where the evidence lies"), el("div", { class: "pictures" }, figures));
}

function verdictView(result, profileName, bitmap, evidenceBitmaps) {
  const h = result.headline;
  const m = result.match;
  const details = [
    meter("Match probability", m.match_probability, { tick: sigmoid(m.threshold), tone: m.tone, right: m.sentence }),
    facts(verdictFacts(result)),
    el("h3", {}, "Reasons"),
    result.reasons.length ? el("ul", { class: "reasons" }, result.reasons.map((r) => el("li", {}, r))) : el("p", { class: "none" }, "No reasons given."),
    el("h3", {}, "Authenticity"),
    result.authenticity ? fakeMeter(result.authenticity) : null,
    result.findings.length
      ? el("div", { class: "findings" }, result.findings.map((f) => el("div", { class: "finding" },
        meter(`${human(f.signal)} (${f.kind})`, f.score, { tone: f.tone, right: `score ${num(f.score)} \u00b7 confidence ${num(f.confidence)}` }),
        el("p", { class: "none" }, f.sentence))))
      : el("p", { class: "none" }, "No authenticity findings reported for this photo."),
  ];
  const photo = bitmap ? photoCanvas(bitmap, "The photo that was checked") : el("p", { class: "none" }, "No preview.");
  // What the file says about its own origin (Content Credentials, labels, EXIF) sits under the headline: a declared
  // AI source decides the verdict, a broken credential or a camera claim qualifies it, and either should be read
  // together with the verdict rather than found among the bars.
  const provenance = result.findings.find((f) => f.signal === "provenance");
  return el("div", {},
    el("div", { class: `verdict ${h.tone}`, "data-verdict": result.verdict },
      el("span", { class: "mark", "aria-hidden": "true" }, MARKS[h.tone]),
      el("div", {}, el("div", { class: "word" }, h.title), el("p", {}, `${h.text} Checked against ${profileName}.`),
        provenance ? el("p", { class: "provenance" }, provenance.sentence) : null)),
    evidenceView(result.evidence, evidenceBitmaps),
    el("div", { class: "split" }, photo, el("div", {}, details)));
}

async function verify() {
  const select = $("verify-profile");
  if (!select.value) throw new ApiError("Choose a profile first (enrol someone on the Enrol tab).");
  const [file] = requireFiles("verify-file", "a photo");
  const form = new FormData();
  form.append("file", file);
  const profileName = select.selectedOptions[0].textContent.split(" \u2014 ")[0];
  // Pictures of the evidence come with every finding that points to a fake; all of them only when asked.
  const scope = $("verify-evidence-all").checked ? "all" : "flagged";
  const [result, bitmap] = await Promise.all([
    api(`/profiles/${encodeURIComponent(select.value)}/verify?evidence=${scope}`, { method: "POST", body: form }),
    bitmapOf(file),
  ]);
  const evidenceBitmaps = await Promise.all((result.evidence || []).map((e) => pngBitmap(e.png_base64)));
  $("verify-result").replaceChildren(verdictView(result, profileName, bitmap, evidenceBitmaps));
}

// ---- identify ----------------------------------------------------------------------------------------------------

function candidatesView(result, bitmap) {
  const caption = `Threshold: similarity ${num(result.threshold, 3)} at FAR ${result.far} for a profile of open photos (each decision names its own, set for its profile's photos); ${result.faces_found} face${result.faces_found === 1 ? "" : "s"} in the photo, the largest searched.`;
  const quality = result.usable ? "" : ` Photo quality: ${result.reasons.join(", ").replaceAll("_", " ")} - a candidate below its threshold may still be the person.`;
  if (!result.candidates.length) return el("p", { class: "none" }, "No enrolled profile to compare with. ", caption);
  const rows = result.candidates.map((c, i) => el("tr", {},
    el("td", { class: "num" }, String(i + 1)),
    el("td", {}, el("strong", {}, c.name || "(unnamed)"), el("div", { class: "id" }, c.profile_id)),
    el("td", {}, meter(`Probability ${prob(c.match_probability)}`, c.match_probability, { tone: c.tone })),
    el("td", { class: "num" }, num(c.similarity, 3)),
    el("td", {}, el("span", { class: `flag ${c.tone}` }, c.sentence))));
  const photo = bitmap ? photoCanvas(bitmap, "The photo that was searched") : el("p", { class: "none" }, "No preview.");
  return el("div", { class: "split" }, photo, el("div", {},
    el("table", { class: "candidates" },
      el("caption", { class: "visually-hidden" }, "Best matching profiles, best first"),
      el("thead", {}, el("tr", {}, ["#", "Profile", "Match probability", "Similarity", "Decision"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)),
    el("p", { class: "none" }, caption + quality)));
}

async function identify() {
  const [file] = requireFiles("identify-file", "a photo");
  const form = new FormData();
  form.append("file", file);
  const topK = Math.min(100, Math.max(1, Number($("identify-top").value) || 5));
  const [result, bitmap] = await Promise.all([api(`/identify?top_k=${topK}`, { method: "POST", body: form }), bitmapOf(file)]);
  $("identify-result").replaceChildren(candidatesView(result, bitmap));
}

// ---- start -------------------------------------------------------------------------------------------------------

function setupForms() {
  const actions = {
    enrol: ["Could not enrol", "Analysing the photos\u2026", enrol],
    verify: ["Could not verify", "Checking the photo\u2026", verify],
    identify: ["Could not identify", "Searching the profiles\u2026", identify],
  };
  for (const [name, [title, busy, work]] of Object.entries(actions)) {
    $(`${name}-form`).addEventListener("submit", (event) => {
      event.preventDefault();
      act(name, title, busy, work);
    });
  }
}

setupTabs();
setupDropZones();
setupForms();
setupKey();
$("verify-profile").addEventListener("change", showSelectedProfile);
loadProfiles().catch((error) => showError("verify", "Could not load the profiles", error));
