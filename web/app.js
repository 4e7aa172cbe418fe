// The dog-breed app page: no framework, no external requests. Everything it needs is served here.
// After the first visit it also works offline: /sw.js (src/web/sw.ts) keeps the page, and device
// mode's code and models, in this browser.
import { apiFetch, apiLinks } from './api-client.js';

apiLinks(); // the footer's /api/ links carry the token (api-client.js)

const $ = (id) => document.getElementById(id);
const drop = $('drop');
const history = [];

// Where the models run: "device" (this browser; the photo never leaves it) or "server".
// /?run=device or /?run=server chooses; the choice is remembered in localStorage.
const MODE_KEY = 'imgclass.run';
const fromUrl = new URLSearchParams(location.search).get('run');
let mode = fromUrl === 'device' || fromUrl === 'server' ? fromUrl : localStorage.getItem(MODE_KEY) === 'device' ? 'device' : 'server';
let device = null; // Promise of the loaded DeviceApp

const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

// Offline: "on the server" cannot answer; say so before anyone tries, and offer device mode.
const OFFLINE_SERVER = 'You are offline, and "on the server" needs the network. "On this device" works offline once its models are kept here.';
const offline = () => navigator.onLine === false;
class OfflineError extends Error {}

function showNetwork() {
  const note = $('offline-note');
  note.hidden = !offline();
  note.textContent = mode === 'server' ? OFFLINE_SERVER : 'You are offline: the photo is analysed on this device with the models kept in this browser.';
}
window.addEventListener('online', showNetwork);
window.addEventListener('offline', showNetwork);
$('use-device').addEventListener('click', () => setMode('device'));

function setMode(next) {
  mode = next;
  localStorage.setItem(MODE_KEY, mode);
  $('run-device').checked = mode === 'device';
  $('run-server').checked = mode === 'server';
  const note = $('mode-note');
  note.classList.toggle('private', mode === 'device');
  note.textContent =
    mode === 'device'
      ? 'On this device: your photo is analysed in this browser and never sent anywhere. Only the models are downloaded (once; then they are kept).'
      : "On the server: your photo is sent to this app's server, analysed there, and not stored.";
  $('device-status').hidden = mode !== 'device';
  $('use-device').hidden = true;
  showNetwork();
  if (mode === 'device') loadDevice().catch(() => {});
}
for (const r of document.querySelectorAll('input[name="run"]')) r.addEventListener('change', () => setMode(r.value));

function deviceStatus(text, isError = false) {
  const s = $('device-status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

function loadDevice() {
  device ??= (async () => {
    deviceStatus('Preparing the models…');
    const manifest = await (await fetch('/device-manifest.json')).json();
    if (!manifest.available) throw new Error(manifest.reason);
    const total = [manifest.ort.wasm, manifest.models.backbone, manifest.models.faces, manifest.models.objects, manifest.models.head]
      .filter(Boolean)
      .reduce((n, a) => n + a.bytes, 0);
    deviceStatus(`Loading the models (${mb(total)})…`);
    const { DeviceApp } = await import(manifest.bundle);
    const app = await DeviceApp.load(manifest, (p) => {
      deviceStatus(
        p.fetched > 0
          ? `Downloading the models: ${mb(p.loaded)} of ${mb(total)}…`
          : `Loading the models from this browser's cache: ${mb(p.loaded)} of ${mb(total)}…`,
      );
      window.__imgclassDevice = { ...p };
    });
    const fetched = window.__imgclassDevice?.fetched ?? 0;
    deviceStatus(
      `Models ready on this device (${mb(total)}; ${fetched > 0 ? `${mb(fetched)} downloaded now` : "from this browser's cache"}; ${app.threads} thread${app.threads > 1 ? 's' : ''}).`,
    );
    return app;
  })();
  device.catch((err) => {
    deviceStatus(
      offline()
        ? 'Device mode is unavailable offline until its models have been kept in this browser: open this page once online in device mode.'
        : `Device mode is unavailable: ${err.message}. Use "on the server" instead.`,
      true,
    );
    device = null;
  });
  return device;
}

apiFetch('/api/models')
  .then((r) => r.json())
  .then((m) => {
    $('models').textContent = `backbone ${m.backbone} · faces ${m.faceDetector} · breeds ${m.classifier.name} (${m.classifier.classes})`;
    $('limits').textContent =
      `JPEG, PNG, WebP, GIF, TIFF or AVIF · up to ${(m.limits.maxBytes / 1e6).toFixed(0)} MB and ${(m.limits.maxPixels / 1e6).toFixed(0)} megapixels`;
  })
  .catch(() => {
    $('models').textContent = offline() ? 'offline' : 'models: unavailable';
  });

// The service worker: the page, and device mode once used, keep working offline.
navigator.serviceWorker
  ?.register('/sw.js', { scope: '/' })
  .then(() => navigator.serviceWorker.ready)
  .then(() => ($('offline-ready').hidden = false))
  .catch(() => {});

for (const input of [$('file'), $('camera')]) {
  input.addEventListener('change', () => {
    if (input.files[0]) submit(input.files[0]);
    input.value = '';
  });
}
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer.files[0];
  if (f) submit(f);
});
document.addEventListener('paste', (e) => {
  const item = [...e.clipboardData.items].find((i) => i.kind === 'file');
  if (item) submit(item.getAsFile());
});

async function submit(file) {
  $('result').hidden = false;
  setMessage('Looking…', false);
  $('breeds').replaceChildren();
  $('timing').textContent = '';
  const started = performance.now();
  const where = mode;
  let answer;
  try {
    if (where === 'device') {
      const app = await loadDevice();
      answer = await app.classify(file);
    } else {
      answer = await predictOnServer(file);
    }
  } catch (err) {
    clearCanvas();
    const isOffline = err instanceof OfflineError;
    setMessage(isOffline ? err.message : `Sorry, that did not work: ${err.message}`, true);
    $('use-device').hidden = !isOffline;
    window.__imgclassLast = { mode: where, error: err.message, offline: isOffline };
    return;
  }
  $('use-device').hidden = true;
  const roundTrip = performance.now() - started;
  const url = URL.createObjectURL(file);
  await draw(url, answer.faces);
  setMessage(answer.message, false);
  showBreeds(answer.breeds);
  $('timing').textContent =
    where === 'device'
      ? `Answered on this device in ${Math.round(roundTrip)} ms (models ${Math.round(answer.timings.totalMs)} ms)`
      : `Answered in ${Math.round(roundTrip)} ms (model ${Math.round(answer.timings.totalMs)} ms)`;
  remember(url, answer);
  // For tests and benchmarks: the last answer as the page got it.
  window.__imgclassLast = { mode: where, answer, roundTripMs: roundTrip };
}

/** POST /api/predict; offline (or no answer in time) is an OfflineError at once, never a hang. */
async function predictOnServer(file) {
  if (offline()) throw new OfflineError(OFFLINE_SERVER);
  const body = new FormData();
  body.append('image', file, file.name || 'upload');
  let res;
  try {
    res = await apiFetch('/api/predict', { method: 'POST', body, signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    if (err.name === 'TimeoutError') throw new OfflineError('The server did not answer within 60 s. "On this device" needs no network.');
    throw new OfflineError(`The server cannot be reached (${offline() ? 'you are offline' : err.message}). "On this device" needs no network.`);
  }
  const answer = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(answer.error || `HTTP ${res.status}`);
  return answer;
}

function setMessage(text, isError) {
  const m = $('message');
  m.textContent = text;
  m.classList.toggle('error', isError);
}

function showBreeds(breeds) {
  $('breeds').replaceChildren(
    ...breeds.map((b) => {
      const li = document.createElement('li');
      const pct = (b.probability * 100).toFixed(1);
      li.innerHTML = `<div class="name"><span></span><span>${pct}%</span></div><div class="bar"><span></span></div>`;
      li.querySelector('.name span').textContent = b.name;
      // set through the CSSOM: the Content-Security-Policy (style-src 'self') refuses inline style attributes
      li.querySelector('.bar span').style.width = `${pct}%`;
      return li;
    }),
  );
}

function clearCanvas() {
  const c = $('canvas');
  c.width = 0;
  c.height = 0;
}

// The server reports boxes on the image as decoded (EXIF-rotated, longer side ≤ 1024);
// the browser also applies EXIF orientation, so only the scale differs.
function draw(url, faces) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => {
      const c = $('canvas');
      const scale = Math.min(1, 1024 / Math.max(img.naturalWidth, img.naturalHeight));
      c.width = Math.round(img.naturalWidth * scale);
      c.height = Math.round(img.naturalHeight * scale);
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0, c.width, c.height);
      ctx.lineWidth = Math.max(2, c.width / 200);
      ctx.strokeStyle = '#ffcc00';
      for (const f of faces) ctx.strokeRect(f.x, f.y, f.width, f.height);
      resolve();
    };
    img.onerror = () => {
      clearCanvas();
      resolve();
    };
    img.src = url;
  });
}

function remember(url, answer) {
  history.unshift({ url, answer });
  history.splice(6);
  $('history-section').hidden = false;
  $('history').replaceChildren(
    ...history.map(({ url, answer }) => {
      const li = document.createElement('li');
      const img = document.createElement('img');
      img.src = url;
      img.alt = '';
      const p = document.createElement('div');
      p.textContent = answer.breeds[0] ? `${answer.kind}: ${answer.breeds[0].name}` : answer.kind;
      li.append(img, p);
      return li;
    }),
  );
}

setMode(mode);
