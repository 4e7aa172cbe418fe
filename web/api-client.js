// How the pages talk to /api/: one place for the bearer token and the live-progress stream.
//
// A server started with --token (or $IMGCLASS_TOKEN) asks for it on every /api/ request: open a
// page once as /#token=… (or /train.html#token=…); the token is kept for this tab only
// (sessionStorage) and taken out of the address bar, and so out of history and bookmarks. It is
// sent as `Authorization: Bearer …`, never in a URL: that is why the progress stream below is read
// with fetch and not with EventSource, which cannot send headers.
const TOKEN_KEY = 'imgclass.token';
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  sessionStorage.setItem(TOKEN_KEY, fromHash);
  window.history.replaceState(null, '', location.pathname + location.search);
}

/** The headers every /api/ request carries (none when no token was given). */
export function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** fetch with the token's header added to the request's own. */
export function apiFetch(url, init = {}) {
  return fetch(url, { ...init, headers: { ...authHeaders(), ...init.headers } });
}

/**
 * Links to the API's JSON (the footers' health, models and training queue): the browser's own
 * navigation cannot send the token, so on a server started with one such a link would answer 401.
 * With a token given, a plain click on an `/api/` link fetches it with the token and shows the
 * answer in a new tab; without one the link works as any link.
 */
export function apiLinks(root = document) {
  root.addEventListener('click', (e) => {
    const a = e.target instanceof window.Element ? e.target.closest('a[href^="/api/"]') : null;
    if (!a || !sessionStorage.getItem(TOKEN_KEY) || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    // opened within the click, so no pop-up blocker refuses it; filled when the answer is in
    const tab = window.open('', '_blank');
    apiFetch(a.getAttribute('href'))
      .then(async (res) => new Blob([await res.text()], { type: res.headers.get('content-type') ?? 'application/json' }))
      .catch((err) => new Blob([JSON.stringify({ error: String(err.message ?? err) })], { type: 'application/json' }))
      .then((blob) => {
        if (tab) tab.location.href = URL.createObjectURL(blob);
      });
  });
}

/**
 * A server-sent-events stream read with fetch (so it carries the token), as EventSource reads it:
 * `event:`, `data:`, `id:` and `retry:` fields, `:` comments, a blank line ends a message. A
 * dropped connection is opened again after the retry delay (3 s, or what the server's `retry:`
 * says); an HTTP error answer closes the stream for good, as it does EventSource. Returns
 * `{ close() }`.
 */
export function eventStream(url, onEvent, { onError = () => {} } = {}) {
  // onError(err, fatal): fatal when the stream is closed for good, else it is being opened again
  const abort = new AbortController();
  let retryMs = 3000;
  let lastEventId = '';
  let closed = false;
  const close = () => {
    closed = true;
    abort.abort();
  };
  const connect = async () => {
    let res;
    try {
      const headers = { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) };
      res = await apiFetch(url, { headers, cache: 'no-store', signal: abort.signal });
    } catch (err) {
      return closed ? undefined : reconnect(err);
    }
    if (!res.ok || !/^text\/event-stream/i.test(res.headers.get('content-type') ?? '')) {
      const body = await res.json().catch(() => null);
      close();
      onError(new Error(body?.error ?? `${res.status} ${res.statusText}`), true);
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let type = '';
    let data = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        // a line ends at \r\n, \n or \r; a lone \r at the end of a chunk may be half of a \r\n
        const lines = buffer.split(/\r\n|\n|\r(?!$)/);
        buffer = lines.pop();
        for (const line of lines) {
          if (line === '') {
            if (data.length) onEvent({ type: type || 'message', data: data.join('\n'), lastEventId });
            type = '';
            data = [];
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') type = value;
          else if (field === 'data') data.push(value);
          else if (field === 'id' && !value.includes('\0')) lastEventId = value;
          else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
        }
      }
    } catch (err) {
      if (closed) return;
      return reconnect(err);
    }
    if (!closed) reconnect(new Error('the stream ended'));
  };
  const reconnect = (err) => {
    onError(err, false);
    setTimeout(() => closed || connect(), retryMs);
  };
  connect();
  return { close };
}
