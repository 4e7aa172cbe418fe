// The dog-breed app page: no framework, no external requests. Everything it needs is served here.
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
    const manifest = await (await fetch('/api/device')).json();
    if (!manifest.available) throw new Error(manifest.reason);
    const total = [manifest.ort.wasm, manifest.models.backbone, manifest.models.faces, manifest.models.head].filter(Boolean).reduce((n, a) => n + a.bytes, 0);
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
    deviceStatus(`Device mode is unavailable: ${err.message}. Use "on the server" instead.`, true);
    device = null;
  });
  return device;
}

fetch('/api/models')
  .then((r) => r.json())
  .then((m) => {
    $('models').textContent = `backbone ${m.backbone} · faces ${m.faceDetector} · breeds ${m.classifier.name} (${m.classifier.classes})`;
    $('limits').textContent =
      `JPEG, PNG, WebP, GIF, TIFF or AVIF · up to ${(m.limits.maxBytes / 1e6).toFixed(0)} MB and ${(m.limits.maxPixels / 1e6).toFixed(0)} megapixels`;
  })
  .catch(() => {
    $('models').textContent = 'models: unavailable';
  });

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
      const body = new FormData();
      body.append('image', file, file.name || 'upload');
      const res = await fetch('/api/predict', { method: 'POST', body });
      answer = await res.json();
      if (!res.ok) throw new Error(answer.error || `HTTP ${res.status}`);
    }
  } catch (err) {
    clearCanvas();
    setMessage(`Sorry, that did not work: ${err.message}`, true);
    window.__imgclassLast = { mode: where, error: err.message };
    return;
  }
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
      li.innerHTML = `<div class="name"><span></span><span>${pct}%</span></div><div class="bar"><span style="width:${pct}%"></span></div>`;
      li.querySelector('.name span').textContent = b.name;
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
