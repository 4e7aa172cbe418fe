// The Train view: classes by name, photos by drop (files or whole folders), file chooser or camera;
// what `explore` would say about them at once; training with live epochs and curves; the held-out
// report; Try it and Download. No framework, no external requests.
// A server started with --token: every /api/ request here carries it (api-client.js), the live
// progress stream included; open the page once as /train.html#token=… .
import { apiFetch, apiLinks, eventStream } from './api-client.js';

apiLinks(); // the footer's /api/ links carry the token (api-client.js)

const $ = (id) => document.getElementById(id);
const pct = (x) => `${(x * 100).toFixed(1)}%`;

let config = null; // /api/train/config
let runId = null;
let view = null; // the run's last state from the server
let events = null; // the open run's progress stream (eventStream)
let where = new URLSearchParams(location.search).get('where') === 'device' ? 'device' : 'server';
const uploads = { queued: [], active: 0, done: 0, total: 0, failed: [] };
const UPLOAD_CONCURRENCY = 3;

async function api(url, init = {}) {
  const r = await apiFetch(url, init);
  const body = r.headers.get('content-type')?.includes('json') ? await r.json() : null;
  if (!r.ok) throw new Error(body?.error ?? `${r.status} ${r.statusText}`);
  return body;
}
const json = (body) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

// ---- where training runs -------------------------------------------------------------------
function setWhere(next) {
  where = next;
  $('where-server').checked = where === 'server';
  $('where-device').checked = where === 'device';
  $('where-note').classList.toggle('private', where === 'device');
  $('where-note').textContent =
    where === 'device'
      ? 'On this device: features and training run in this browser; your photos are never uploaded.'
      : 'On the server: your photos are uploaded to this server and stored in a run directory it keeps (the command line can use it).';
}
for (const r of document.querySelectorAll('input[name="where"]'))
  r.addEventListener('change', () => {
    setWhere(r.value);
    // the photos of a server run are on the server, a device run's only here: a new run in the new place
    if (where === 'device') newLocalRun();
    else {
      local = null;
      for (const id of ['editor', 'check', 'training', 'report', 'use']) $(id).hidden = true;
    }
  });

// ---- runs -------------------------------------------------------------------------------------
async function listRuns() {
  const runs = await api('/api/train/runs');
  const sel = $('runs');
  sel.innerHTML = '<option value="">an earlier run…</option>';
  for (const r of runs) {
    const o = document.createElement('option');
    o.value = r.id;
    o.textContent = `${r.id} · ${r.classes.join(', ') || 'no classes'} · ${r.photos} photos · ${r.status}${r.accuracy !== null ? ` · ${pct(r.accuracy)}` : ''}`;
    sel.append(o);
  }
  if (runId) sel.value = runId;
}
$('runs').addEventListener('change', () => {
  if ($('runs').value) openRun($('runs').value);
});
$('new-run').addEventListener('click', async () => {
  if (where === 'device') return newLocalRun();
  $('run-id').classList.remove('error-text');
  try {
    const v = await api('/api/train/runs', { method: 'POST' });
    await openRun(v.run.id, v);
    await listRuns();
    $('class-name').focus();
  } catch (err) {
    // e.g. a token server opened without /train.html#token=…: say why nothing happens
    $('run-id').textContent = `Cannot start a run: ${err.message}`;
    $('run-id').classList.add('error-text');
  }
});

async function openRun(id, initial) {
  local = null;
  if (where === 'device') setWhere('server');
  runId = id;
  window.history.replaceState(null, '', `?run=${encodeURIComponent(id)}${where === 'device' ? '&where=device' : ''}`);
  events?.close();
  render(initial ?? (await api(`/api/train/runs/${id}`)));
  events = eventStream(
    `/api/train/runs/${id}/events`,
    (e) => {
      if (e.type !== 'state') return;
      const v = JSON.parse(e.data);
      if (v.run.id === runId) render(v);
    },
    // refused for good (a wrong token, a run that is gone): say so; a dropped connection is opened again quietly
    { onError: (err, fatal) => fatal && ($('blockers').textContent = `Live progress stopped: ${err.message}`) },
  );
}

// ---- classes and photos ------------------------------------------------------------------------
$('add-class').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $('class-name').value.trim();
  $('class-error').textContent = '';
  if (!name) return;
  try {
    render(local ? localAddClass(name) : await api(`/api/train/runs/${runId}/classes`, json({ name })));
    $('class-name').value = '';
  } catch (err) {
    $('class-error').textContent = err.message;
  }
});

function classCard(c, photos) {
  const card = document.createElement('div');
  card.className = 'class-card';
  card.dataset.folder = c.folder;
  card.innerHTML = `
    <div class="class-head"><strong class="class-name"></strong> <span class="class-count"></span>
      <button type="button" class="link remove" title="remove this class">remove</button></div>
    <div class="drop small" tabindex="0">Drop photos or a folder here
      <div class="buttons">
        <label class="button secondary">Choose files<input type="file" class="pick" accept="image/*" multiple hidden></label>
        <label class="button secondary">A folder<input type="file" class="pick-dir" webkitdirectory multiple hidden></label>
        <label class="button secondary">Camera<input type="file" class="camera" accept="image/*" capture="environment" hidden></label>
      </div>
    </div>`;
  card.querySelector('.class-name').textContent = c.name;
  card.querySelector('.class-count').textContent = `${photos} photo${photos === 1 ? '' : 's'}`;
  for (const sel of ['.pick', '.pick-dir', '.camera'])
    card.querySelector(sel).addEventListener('change', (e) => {
      addFiles(c.folder, [...e.target.files]);
      e.target.value = '';
    });
  const drop = card.querySelector('.drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    addFiles(c.folder, await droppedFiles(e.dataTransfer));
  });
  card.querySelector('.remove').addEventListener('click', async () => {
    try {
      if (local) return render(localRemoveClass(c.folder));
      render(await api(`/api/train/runs/${runId}/classes/${encodeURIComponent(c.folder)}`, { method: 'DELETE' }));
    } catch (err) {
      $('class-error').textContent = err.message;
    }
  });
  return card;
}

/** Files of a drop, folders walked (webkitGetAsEntry), so a whole folder of photos can be dropped. */
async function droppedFiles(dt) {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length === 0) return [...dt.files];
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) out.push(await new Promise((res, rej) => entry.file(res, rej)));
    else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

function addFiles(folder, files) {
  const visible = files.filter((f) => !f.name.startsWith('.'));
  if (local) return localAddFiles(folder, visible);
  for (const file of visible) uploads.queued.push({ folder, file });
  uploads.total += visible.length;
  showUploads();
  pumpUploads();
}

function pumpUploads() {
  while (uploads.active < UPLOAD_CONCURRENCY && uploads.queued.length) {
    const { folder, file } = uploads.queued.shift();
    uploads.active++;
    uploadOne(folder, file).finally(() => {
      uploads.active--;
      uploads.done++;
      showUploads();
      pumpUploads();
    });
  }
}

async function uploadOne(folder, file) {
  const url = `/api/train/runs/${runId}/classes/${encodeURIComponent(folder)}/photos?name=${encodeURIComponent(file.name)}`;
  try {
    if (config && file.size > config.limits.maxBytes) throw new Error(`larger than the limit of ${(config.limits.maxBytes / 1e6).toFixed(1)} MB`);
    const r = await api(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: file });
    if (view) render({ ...view, summary: r.summary });
  } catch (err) {
    // refused before it was stored (too large, class gone): listed with the rest, never lost silently
    uploads.failed.push({ class: folder, file: file.name, reason: err.message });
    if (view) render(view);
  }
}

function showUploads() {
  const busy = uploads.active + uploads.queued.length;
  $('phase').textContent = busy ? `Uploading photos: ${uploads.done} of ${uploads.total}…` : view?.live ? $('phase').textContent : '';
  $('train').disabled = busy > 0 || !view || view.summary.blockers.length > 0 || isBusy(view);
  if (!busy) {
    uploads.done = uploads.total = 0;
    document.body.dataset.uploading = 'no';
  } else document.body.dataset.uploading = 'yes';
}

// ---- training ----------------------------------------------------------------------------------
const isBusy = (v) => v.run.status === 'queued' || v.run.status === 'training';
// The downloads: a device run's files are made here; a server run's are fetched with the token
// (a plain link could not send it) and saved from a blob. The links keep their href for what a
// link is good for (focus, the address in the status bar); a click goes through here.
$('export-json').addEventListener('click', (e) => {
  e.preventDefault();
  if (local?.result) return save(new Blob([JSON.stringify(local.result.exportJson, null, 2) + '\n']), `${local.id}.json`);
  if (runId && !local) downloadApi(`/api/train/runs/${runId}/export.json`, `${runId}.json`);
});
$('zip').addEventListener('click', async (e) => {
  e.preventDefault();
  if (local?.result) {
    const { zipSync } = await import('/vendor/fflate.js');
    const files = Object.fromEntries(Object.entries(local.result.run).map(([k, v]) => [`${local.id}/${k}`, v]));
    return save(new Blob([zipSync(files, { level: 0 })]), `${local.id}.zip`);
  }
  if (runId && !local) downloadApi(`/api/train/runs/${runId}/run.zip`, `${runId}.zip`);
});
$('train').addEventListener('click', async () => {
  $('blockers').textContent = '';
  if (where === 'device') return trainHere();
  try {
    render(await api(`/api/train/runs/${runId}/train`, json(trainOptions())));
  } catch (err) {
    $('blockers').textContent = err.message;
  }
});
$('stop').addEventListener('click', async () => {
  if (local) return local.abort?.abort();
  try {
    render(await api(`/api/train/runs/${runId}/stop`, { method: 'POST' }));
  } catch (err) {
    $('blockers').textContent = err.message;
  }
});
$('resume').addEventListener('click', async () => {
  try {
    render(await api(`/api/train/runs/${runId}/resume`, { method: 'POST' }));
  } catch (err) {
    $('blockers').textContent = err.message;
  }
});

/** The CLI's defaults, except what the address says (?epochs=N: short demos and tests). */
function trainOptions() {
  const q = new URLSearchParams(location.search);
  const o = {};
  for (const k of ['epochs', 'patience']) if (q.has(k)) o[k] = Number(q.get(k));
  return o;
}

/**
 * Device mode: the browser trains (src/web/train-device.ts, bundled by the server, loaded from
 * /api/train-device's manifest) on photos that stay in this tab; nothing is uploaded. The page
 * keeps the run here and shows it as it shows a server run.
 */
let local = null;
const FEW = 10;
const MIN = 4;

function newLocalRun() {
  events?.close();
  runId = null;
  local = { id: `device-${new Date().toISOString().replace(/[:.]/g, '-')}`, classes: [], rejected: [], repeats: [], hashes: new Map(), status: 'filling' };
  window.history.replaceState(null, '', '?where=device');
  render(localView());
}
function localAddClass(name) {
  const folder = name
    .replace(/_/g, ' ')
    .replace(/[^\p{L}\p{N} -]/gu, '-')
    .replace(/\s+/g, ' ')
    .trim();
  if (!folder) throw new Error(`"${name}" has no letters or digits to name a class with`);
  if (['train', 'valid', 'val', 'validation', 'test'].includes(folder.toLowerCase()))
    throw new Error(`"${name}" cannot be a class name: train, valid, val, validation and test name the parts of a data set`);
  if (local.classes.some((c) => c.folder.toLowerCase() === folder.toLowerCase())) throw new Error(`there is already a class "${name}"`);
  local.classes.push({ name: folder, folder, files: [] });
  return localView();
}
function localRemoveClass(folder) {
  local.classes = local.classes.filter((c) => c.folder !== folder);
  local.rejected = local.rejected.filter((r) => r.class !== folder);
  local.repeats = local.repeats.filter((r) => r.class !== folder);
  return localView();
}
/** What the server's upload check says before storing (data/upload.ts): the container by its first bytes, and its end. */
function checkLocal(b) {
  if (b.length === 0) return 'empty file';
  const ascii = (i, n) => String.fromCharCode(...b.subarray(i, i + n));
  const jpeg = b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
  const png = ascii(0, 8) === '\x89PNG\r\n\x1a\n';
  const ok = jpeg || png || ascii(0, 6).startsWith('GIF8') || (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP');
  if (!ok) return 'not an image: the content is not JPEG, PNG, WebP or GIF';
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  if (jpeg && !(b[end - 2] === 0xff && b[end - 1] === 0xd9)) return 'the JPEG is truncated (its end marker is missing)';
  if (png && !ascii(Math.max(0, end - 12), 12).includes('IEND')) return 'the PNG is truncated (its end chunk is missing)';
  return null;
}
async function localAddFiles(folder, files) {
  const cls = local.classes.find((c) => c.folder === folder);
  document.body.dataset.uploading = 'yes';
  for (const file of files) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const bad = checkLocal(bytes);
    if (bad) {
      local.rejected.push({ class: folder, file: file.name, reason: bad });
      continue;
    }
    const hash = [...new Uint8Array(await window.crypto.subtle.digest('SHA-256', bytes))].map((x) => x.toString(16).padStart(2, '0')).join('');
    const same = cls.files.find((f) => f.hash === hash);
    if (same) local.repeats.push({ class: folder, file: file.name, sameAs: `${folder}/${same.file.name}` });
    else cls.files.push({ file, hash });
  }
  document.body.dataset.uploading = 'no';
  render(localView());
}
/** The same check as the server's summary (server/train-store.ts), on the photos held here. */
function localSummary() {
  const classes = local.classes.map((c) => ({ name: c.name, folder: c.folder, photos: c.files.length }));
  const warnings = [];
  const blockers = [];
  if (classes.length < 2) blockers.push(`a classifier needs at least two classes (there ${classes.length === 1 ? 'is one' : 'are none'})`);
  for (const c of classes) {
    if (c.photos === 0) blockers.push(`class ${c.name} has no photos`);
    else if (c.photos < MIN)
      blockers.push(
        `class ${c.name} has ${c.photos} photo${c.photos === 1 ? '' : 's'}; it needs at least ${MIN} to be in training, validation and the held-out test`,
      );
    else if (c.photos < FEW)
      warnings.push(`class ${c.name} has only ${c.photos} photos: below ${FEW} a class is learned poorly and its held-out figures rest on one or two photos`);
  }
  const filled = classes.filter((c) => c.photos > 0).sort((a, b) => b.photos - a.photos);
  const imbalance = filled.length >= 2 ? { ratio: filled[0].photos / filled.at(-1).photos, largest: filled[0].name, smallest: filled.at(-1).name } : null;
  if (imbalance && imbalance.ratio >= 1.5)
    warnings.push(
      `imbalanced: ${imbalance.largest} has ${imbalance.ratio.toFixed(1)}× the photos of ${imbalance.smallest}; accuracy flatters the large classes (read the per-class figures)`,
    );
  const byHash = new Map();
  for (const c of local.classes) for (const f of c.files) byHash.set(f.hash, [...(byHash.get(f.hash) ?? []), `${c.folder}/${f.file.name}`]);
  const duplicates = [...byHash.values()].filter((g) => g.length > 1).map((files) => ({ files, classes: [...new Set(files.map((f) => f.split('/')[0]))] }));
  if (duplicates.length)
    warnings.push(
      `${duplicates.length} photo${duplicates.length === 1 ? ' is' : 's are'} in more than one class (byte-identical copies): the labels contradict each other`,
    );
  if (local.rejected.length)
    warnings.push(`${local.rejected.length} file${local.rejected.length === 1 ? ' was' : 's were'} not used: they cannot be read as photos (listed below)`);
  const share = (n, f) => Math.round(n * f);
  const test = classes.reduce((a, c) => a + share(c.photos, 0.15), 0);
  const valid = classes.reduce((a, c) => a + share(c.photos, 0.15), 0);
  const photos = classes.reduce((a, c) => a + c.photos, 0);
  return {
    classes,
    photos,
    rejected: local.rejected,
    duplicates,
    repeats: local.repeats,
    imbalance,
    split: { train: photos - test - valid, valid, test },
    warnings,
    blockers,
  };
}
function localView() {
  const r = local.result?.report;
  return {
    run: { id: local.id, createdAt: '', status: local.status, error: local.error, classes: local.classes },
    summary: localSummary(),
    live: local.live,
    history: local.live?.history ?? r?.history ?? [],
    lines: local.live?.lines ?? [],
    epochs: local.live?.epochs ?? config?.defaults.epochs ?? 20,
    report: r ? localReport(r) : null,
    export: r ? { ready: true, verification: local.result.exportJson.verification, bytes: local.result.onnx.byteLength } : { ready: false },
    resumable: false,
    queue: { running: null, waiting: [] },
    cli: { note: `Unzip the run directory under your server's runs folder: imgclass eval, classify --model, export and serve --model then work on it.` },
    device: true,
  };
}
function localReport(r) {
  const t = r.test;
  return {
    n: t.n,
    counts: r.counts,
    accuracy: t.accuracy,
    macro: t.macro,
    perClass: t.perClass,
    confusion: t.confusion,
    classes: t.classes,
    topLosses: t.topLosses,
    leaks: r.leaks.length,
    unknown: r.unknown
      ? { threshold: r.unknown.threshold, measured: r.unknown.measured, onThesePhotos: t.unknown ?? null, imagenetClasses: r.unknown.imagenetIndices.length }
      : null,
    kept: { bestEpoch: r.best.epoch },
    training: { epochsRun: r.history.length, stoppedEarly: r.stoppedEarly, interrupted: r.interrupted },
    advice: [],
  };
}
async function trainHere() {
  const manifest = await apiFetch('/api/train-device')
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null);
  if (!manifest?.bundle) {
    $('blockers').textContent = 'Training on this device is not available from this server; choose "on the server".';
    return;
  }
  const { trainOnDevice, classifyOnDevice } = await import(manifest.bundle);
  local.trainer = { manifest, classifyOnDevice };
  local.abort = new window.AbortController();
  local.status = 'training';
  local.live = { phase: 'features', epochs: trainOptions().epochs ?? config?.defaults.epochs ?? 20, history: [], lines: [] };
  render(localView());
  const input = { classes: local.classes.map((c) => ({ name: c.folder, files: c.files.map((f) => f.file) })) };
  try {
    local.result = await trainOnDevice(
      input,
      { manifest, name: local.id, ...trainOptions() },
      (e) => {
        const l = local.live;
        if (e.type === 'features') l.features = { done: e.done, total: e.total };
        else if (e.type === 'stage') l.phase = e.stage === 'exporting' ? 'evaluating' : e.stage === 'loading' ? 'features' : e.stage;
        else if (e.type === 'epoch') {
          l.phase = 'training';
          l.epochs = e.epochs;
          l.history = [...l.history, e.metrics];
          l.lines = [...l.lines, e.line];
        }
        render(localView());
      },
      local.abort.signal,
    );
    local.status = local.result.report.interrupted ? 'stopped' : 'trained';
    local.live = { ...local.live, phase: 'done', history: local.result.report.history };
  } catch (err) {
    local.status = 'failed';
    local.error = err.message;
    local.live = { ...local.live, phase: 'failed', error: err.message };
  }
  render(localView());
}

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Device mode's report pictures: the confusion matrix as a table and the worst mistakes from the photos held here. */
function renderLocalPictures(r) {
  const files = new Map(local.classes.flatMap((c) => c.files.map((f) => [`${c.folder}/${f.file.name}`, f.file])));
  const table = `<table class="counts confusion"><tr><th>true \\ predicted</th>${r.classes.map(() => `<th></th>`).join('')}</tr>${r.confusion
    .map((row) => `<tr><th></th>${row.map((n) => `<td class="num">${n}</td>`).join('')}</tr>`)
    .join('')}</table>`;
  const box = $('local-pictures');
  box.innerHTML = table;
  const heads = box.querySelectorAll('tr:first-child th');
  r.classes.forEach((c, i) => (heads[i + 1].textContent = c));
  box.querySelectorAll('tr:not(:first-child) th').forEach((th, i) => (th.textContent = r.classes[i]));
  const gallery = document.createElement('div');
  gallery.className = 'gallery';
  for (const t of r.topLosses) {
    const fig = document.createElement('figure');
    const img = document.createElement('img');
    const f = files.get(t.file);
    if (f) img.src = URL.createObjectURL(f);
    img.alt = t.file;
    const cap = document.createElement('figcaption');
    cap.textContent = `true ${t.actual}, said ${t.predicted} (${pct(t.probabilityOfPredicted)})`;
    fig.append(img, cap);
    gallery.append(fig);
  }
  box.append(gallery);
}

// ---- rendering ---------------------------------------------------------------------------------
let lastStatus = null;
function render(v) {
  if (lastStatus !== null && lastStatus !== v.run.status) listRuns().catch(() => {});
  lastStatus = v.run.status;
  view = v;
  $('run-id').textContent = `run ${v.run.id} (${v.run.status})`;
  for (const id of ['editor', 'check', 'training']) $(id).hidden = false;
  const s = v.summary;
  const editing = v.run.status === 'filling' || v.run.status === 'failed';
  $('add-class').hidden = !editing;
  // classes
  const box = $('classes');
  box.replaceChildren(...s.classes.map((c) => classCard(c, c.photos)));
  for (const card of box.querySelectorAll('.class-card')) {
    card.classList.toggle('locked', !editing);
    for (const el of card.querySelectorAll('input, button')) el.disabled = !editing;
  }
  if (config)
    $('train-limits').textContent =
      `Up to ${config.limits.maxPhotosPerClass} photos per class, ${(config.limits.maxBytes / 1e6).toFixed(0)} MB per photo; ` +
      `at least ${config.minPhotos} per class to train, ${config.fewPhotos} or more to learn well.`;
  // what explore would say
  const tbody = $('counts').querySelector('tbody');
  tbody.innerHTML = '';
  const max = Math.max(1, ...s.classes.map((c) => c.photos));
  for (const c of s.classes) {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td></td><td class="num">${c.photos}</td><td class="barcell"><span class="bar"><span></span></span></td>`;
    // through the CSSOM: the Content-Security-Policy (style-src 'self') refuses inline style attributes
    tr.querySelector('.bar span').style.width = `${(100 * c.photos) / max}%`;
    tr.firstChild.textContent = c.name;
    if (c.photos < (config?.fewPhotos ?? 10)) tr.classList.add('few');
    tbody.append(tr);
  }
  $('split').textContent = s.photos
    ? `${s.photos} photos. The held-out test part will be ${s.split.test} photos (15% of each class, seed 42: the same split as imgclass train), ` +
      `validation ${s.split.valid}, training ${s.split.train}.` +
      (s.imbalance ? ` Largest/smallest class: ${s.imbalance.ratio.toFixed(2)}.` : '') +
      (s.repeats.length
        ? ` ${s.repeats.length} photo${s.repeats.length === 1 ? ' is a byte-identical copy' : 's are byte-identical copies'} of one already in the same class (kept once).`
        : '')
    : 'No photos yet.';
  const warnings = [...s.warnings];
  if (uploads.failed.length)
    warnings.push(`${uploads.failed.length} file${uploads.failed.length === 1 ? ' was' : 's were'} refused before upload (listed below)`);
  $('warnings').replaceChildren(...warnings.map((w) => Object.assign(document.createElement('li'), { textContent: w })));
  const rejected = [...s.rejected, ...uploads.failed];
  $('rejected-box').hidden = rejected.length === 0;
  $('rejected-title').textContent = `${rejected.length} file${rejected.length === 1 ? '' : 's'} not used (cannot be read as photos)`;
  $('rejected').replaceChildren(...rejected.map((r) => Object.assign(document.createElement('li'), { textContent: `${r.class}/${r.file}: ${r.reason}` })));
  const copies = [
    ...s.duplicates.map((d) => `${d.files.join(' = ')} (in ${d.classes.join(' and ')})`),
    ...s.repeats.map((r) => `${r.class}/${r.file} = ${r.sameAs} (kept once)`),
  ];
  $('dupes-box').hidden = copies.length === 0;
  $('dupes-title').textContent = `${copies.length} byte-identical cop${copies.length === 1 ? 'y' : 'ies'}`;
  $('dupes').replaceChildren(...copies.map((t) => Object.assign(document.createElement('li'), { textContent: t })));
  // training
  const busy = isBusy(v);
  $('blockers').textContent =
    editing && s.blockers.length ? `Before training: ${s.blockers.join('; ')}.` : v.run.error ? `Training failed: ${v.run.error}` : '';
  $('train').hidden = !editing;
  $('stop').hidden = !busy;
  $('resume').hidden = !v.resumable;
  if (config) {
    const d = config.defaults;
    $('defaults').textContent =
      `the command line's defaults: ${d.arch} on ${d.backbone}, ${v.epochs ?? d.epochs} epochs, early stopping after ${d.patience} without a better validation loss, best epoch kept`;
  }
  $('phase').textContent = phaseText(v);
  $('phase').dataset.phase = v.live?.phase ?? v.run.status;
  const q = v.queue;
  $('queue').textContent =
    q.running || q.waiting.length
      ? `Queue: ${q.running ? `running ${q.running.kind} of ${q.running.runId === v.run.id ? 'this run' : q.running.runId}` : 'idle'}` +
        (q.waiting.length ? `; waiting: ${q.waiting.map((w) => (w.runId === v.run.id ? `this run (#${w.position})` : `#${w.position}`)).join(', ')}` : '')
      : '';
  $('epochs').textContent = v.lines.join('\n');
  drawCurves(v.history);
  showUploads();
  renderReport(v);
}

function phaseText(v) {
  const l = v.live;
  if (l) {
    if (l.phase === 'queued') return `Waiting in the queue (position ${l.position ?? '?'}): one training runs at a time.`;
    if (l.phase === 'features') return l.features ? `Reading photos and computing features: ${l.features.done} of ${l.features.total}…` : 'Starting…';
    if (l.phase === 'training') return `Training: epoch ${l.history.length} of up to ${l.epochs}${l.stopRequested ? ' (stopping after this batch…)' : ''}`;
    if (l.phase === 'evaluating') return 'Scoring the held-out photos…';
    if (l.phase === 'failed') return `Failed: ${l.error}`;
    if (l.phase === 'stopped' && !v.report) return `Stopped: ${l.error ?? ''}`;
  }
  if (v.run.status === 'interrupted') return 'The server stopped while this run was training. Resume continues from its last finished epoch.';
  if (v.report && v.report.training) {
    const t = v.report.training;
    return `Trained: kept epoch ${v.report.kept?.bestEpoch} of ${t.epochsRun ?? '?'} run${t.stoppedEarly ? ' (early stopping)' : ''}${t.interrupted ? ' (stopped)' : ''}.`;
  }
  return '';
}

function renderReport(v) {
  const r = v.report;
  $('report').hidden = !r;
  $('use').hidden = !r;
  if (!r) return;
  const c = r.counts;
  $('heldout').textContent =
    `Held out: ${r.n} photos the model never trained on and was never chosen on (15% of each class, seed 42, the same split as imgclass train)` +
    (c ? `; it trained on ${c.train} and chose its epoch on ${c.valid} validation photos.` : '.') +
    (r.leaks ? ` Warning: ${r.leaks} of them have a byte-identical copy among the training photos.` : '');
  $('accuracy').textContent = `Accuracy ${pct(r.accuracy)} · macro F1 ${pct(r.macro.f1)} on ${r.n} held-out photos`;
  $('advice').replaceChildren(...r.advice.map((a) => Object.assign(document.createElement('li'), { textContent: a })));
  const tb = $('per-class').querySelector('tbody');
  tb.innerHTML = '';
  for (const [name, m] of Object.entries(r.perClass)) {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td></td><td class="num">${pct(m.precision)}</td><td class="num">${pct(m.recall)}</td><td class="num">${pct(m.f1)}</td><td class="num">${m.support}</td>`;
    tr.firstChild.textContent = name;
    tb.append(tr);
  }
  const u = r.unknown;
  $('unknown').textContent = u
    ? `"Unknown" answer: a photo whose ImageNet view falls below ${u.threshold.toPrecision(3)} on the ${u.imagenetClasses} ImageNet classes of your photos is called unknown ` +
      `(none of your classes). Chosen on the validation photos: ${pct(u.measured.validation.falseUnknownRate)} of them wrongly called unknown` +
      (u.onThesePhotos ? `; on the held-out photos ${pct(u.onThesePhotos.falseUnknownRate)} of ${u.onThesePhotos.n}.` : '.')
    : '';
  $('server-pictures').hidden = Boolean(v.device);
  $('local-pictures').hidden = !v.device;
  if (v.device) {
    renderLocalPictures(r);
    $('cli').textContent = v.cli.note;
    $('zip').removeAttribute('href');
    $('export-json').hidden = false;
    $('export-json').removeAttribute('href');
    const f = v.export.verification;
    $('export-status').textContent =
      `Verified in this browser: on ${f.n} held-out photos the ONNX file's probabilities differ from the trained model's by at most ${f.maxAbsDiff.toExponential(1)} (top-1 agreement ${pct(f.top1Agreement)}).`;
    return;
  }
  const stamp = encodeURIComponent(v.run.status + (r.kept?.bestEpoch ?? ''));
  showPicture($('confusion'), `/api/train/runs/${v.run.id}/pictures/confusion.png?v=${stamp}`);
  showPicture($('top-losses'), `/api/train/runs/${v.run.id}/pictures/top-losses.png?v=${stamp}`);
  $('cli').textContent = Object.values(v.cli).join('\n');
  // downloads
  $('zip').href = `/api/train/runs/${v.run.id}/run.zip`;
  const ex = v.export;
  $('export-json').hidden = !ex.ready;
  $('export-json').href = `/api/train/runs/${v.run.id}/export.json`;
  if (ex.ready) {
    const f = ex.verification;
    $('export-status').textContent =
      `Verified: on ${f.n} photos the ONNX file's probabilities differ from the trained model's by at most ${f.maxAbsDiff.toExponential(1)} ` +
      `(top-1 agreement ${pct(f.top1Agreement)}); ${(ex.bytes / 1e6).toFixed(1)} MB.`;
    if (pendingDownload) {
      pendingDownload = false;
      downloadApi(`/api/train/runs/${v.run.id}/export.onnx`, `${v.run.id}.onnx`);
    }
  } else if (ex.phase === 'queued' || ex.phase === 'running') $('export-status').textContent = 'Exporting and verifying the ONNX file…';
  else if (ex.phase === 'failed') $('export-status').textContent = `Export failed: ${ex.error}`;
}

let pendingDownload = false;
/** An /api/ file fetched with the token and saved under `name`; a refusal is said in the export status. */
async function downloadApi(url, name) {
  try {
    const r = await apiFetch(url);
    if (!r.ok) throw new Error((await r.json().catch(() => null))?.error ?? `${r.status} ${r.statusText}`);
    save(await r.blob(), name);
  } catch (err) {
    $('export-status').textContent = `Download failed: ${err.message}`;
  }
}

/** An /api/ picture fetched with the token and shown from a blob: URL; fetched again only when its URL changes. */
async function showPicture(img, url) {
  if (img.dataset.src === url) return;
  img.dataset.src = url;
  const r = await apiFetch(url).catch(() => null);
  const blob = r?.ok ? await r.blob() : null;
  if (img.dataset.src !== url) return; // a newer picture was asked for meanwhile
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
  if (blob) img.src = URL.createObjectURL(blob);
  else img.removeAttribute('src');
}
$('export').addEventListener('click', async () => {
  if (local) return local.result && save(new Blob([local.result.onnx]), `${local.id}.onnx`);
  if (view?.export.ready) return downloadApi(`/api/train/runs/${runId}/export.onnx`, `${runId}.onnx`);
  pendingDownload = true;
  try {
    render(await api(`/api/train/runs/${runId}/export`, { method: 'POST' }));
  } catch (err) {
    $('export-status').textContent = err.message;
  }
});

$('try').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  e.target.value = '';
  if (!file) return;
  $('try-result').textContent = local ? 'Classifying on this device…' : 'Classifying…';
  $('try-result').classList.remove('error-text');
  try {
    // device mode: the run's own model in this tab (the backbone on onnxruntime-web, the head on
    // TF.js), with the photo never leaving it; server mode: the run's model on the server
    const r = local
      ? await local.trainer.classifyOnDevice(local.result, { manifest: local.trainer.manifest }, file)
      : await api(`/api/train/runs/${runId}/classify`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: file });
    $('try-result').textContent =
      (r.label === 'unknown' ? 'unknown: none of the classes; closest ' : '') + r.top.map((t) => `${t.name} ${pct(t.probability)}`).join(' · ');
    // for tests: the last answer as the page got it
    window.__imgclassTry = { where: local ? 'device' : 'server', answer: r };
  } catch (err) {
    $('try-result').textContent = err.message;
    $('try-result').classList.add('error-text');
  }
});

// ---- curves ------------------------------------------------------------------------------------
function drawCurves(history) {
  plot($('loss'), 'loss', history, (h) => [h.loss, h.valLoss]);
  plot($('acc'), 'accuracy', history, (h) => [h.acc, h.valAcc], 1);
}
function plot(canvas, title, history, pick, fixedMax) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const m = { l: 40, r: 10, t: 22, b: 24 };
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#1d2430';
  ctx.font = '13px system-ui, sans-serif';
  ctx.fillText(`${title} (train solid, validation dashed)`, m.l, 14);
  if (history.length === 0) return;
  const vals = history.flatMap(pick).filter(Number.isFinite);
  const top = fixedMax ?? Math.max(...vals) * 1.05;
  const bottom = fixedMax ? Math.min(0.5, Math.min(...vals)) : 0;
  const n = Math.max(2, history.at(-1).epoch);
  const x = (e) => m.l + ((e - 1) / (n - 1)) * (W - m.l - m.r);
  const y = (v) => H - m.b - ((v - bottom) / (top - bottom || 1)) * (H - m.t - m.b);
  ctx.strokeStyle = '#c9d0db';
  ctx.beginPath();
  ctx.moveTo(m.l, m.t);
  ctx.lineTo(m.l, H - m.b);
  ctx.lineTo(W - m.r, H - m.b);
  ctx.stroke();
  ctx.fillStyle = '#5b6575';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(top.toFixed(2), 2, m.t + 4);
  ctx.fillText(bottom.toFixed(2), 2, H - m.b);
  ctx.fillText(`epoch ${n}`, W - m.r - 50, H - 6);
  for (const [k, dash] of [
    [0, []],
    [1, [5, 4]],
  ]) {
    ctx.strokeStyle = '#2f6fde';
    ctx.setLineDash(dash);
    ctx.lineWidth = 2;
    ctx.beginPath();
    history.forEach((h, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(h.epoch), y(pick(h)[k])));
    ctx.stroke();
  }
  ctx.setLineDash([]);
}

// ---- start -------------------------------------------------------------------------------------
setWhere(where);
config = await api('/api/train/config').catch(() => null);
await listRuns().catch(() => {});
const wanted = new URLSearchParams(location.search).get('run');
if (wanted) await openRun(wanted).catch(() => {});
else if (where === 'device') newLocalRun();
document.body.dataset.ready = 'yes';
