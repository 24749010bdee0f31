// The dashboard: polls the monitor's API and renders with DOM calls only (textContent, never
// innerHTML), so transcript text and error messages from the data cannot become markup.

const POLL_MS = 2000;
const DATES_SHOWN = 10;

const $ = (id) => document.getElementById(id);

/** el('div', {class: 'x', style: {width: '5%'}, onclick: fn}, child, 'text') */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    // Through the CSSOM: the Content-Security-Policy refuses inline style attributes.
    else if (key === 'style') Object.assign(node.style, value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJson(url, init) {
  const response = await fetch(url, init);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function card(title, counts) {
  return el(
    'div',
    { class: 'card' },
    el('h3', {}, title),
    el(
      'dl',
      {},
      Object.entries(counts).flatMap(([k, v]) => [el('dt', {}, k.replaceAll('_', ' ')), el('dd', {}, v)]),
    ),
  );
}

function progressBar(fraction, status, label) {
  const percent = Math.round(fraction * 100);
  return el(
    'div',
    {
      class: `bar ${status}`,
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': percent,
      'aria-label': label,
      title: `${percent}%`,
    },
    el('div', { style: { width: `${percent}%` } }),
  );
}

function statusBadge(status) {
  return el('span', { class: `status ${status}` }, status.replaceAll('_', ' '));
}

function renderOverview(status) {
  $('overview').replaceChildren(
    card('clips', status.clips),
    card('archives', status.archives),
    card(
      'task queue backlog',
      status.backlog === 'unknown'
        ? { temporal: 'unknown' }
        : Object.fromEntries(
            Object.entries(status.backlog).map(([queue, b]) => [
              queue,
              `${b.workflow} wf / ${b.activity} act`,
            ]),
          ),
    ),
  );
  const points = status.throughput.per_minute;
  const max = Math.max(1, ...points.map((p) => p.clips));
  $('throughput-total').textContent = `${status.throughput.last_hour} clips stored in the last hour`;
  $('throughput').replaceChildren(
    ...points.map((p) =>
      el('div', { style: { height: `${(p.clips / max) * 100}%` }, title: `${p.minute}: ${p.clips} clips` }),
    ),
  );
  $('failures')
    .querySelector('tbody')
    .replaceChildren(
      ...(status.failures.length
        ? status.failures.map((f) =>
            el(
              'tr',
              {},
              el('td', {}, f.date),
              el('td', {}, f.archive),
              el('td', {}, f.clip ? el('a', { href: `#/clip/${encodeURIComponent(f.clip)}` }, f.clip) : '—'),
              el('td', {}, f.error ?? ''),
            ),
          )
        : [el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'no failures'))]),
    );
}

async function retryDate(date) {
  let token = sessionStorage.getItem('monitorToken');
  if (!token) {
    token = prompt('MONITOR_TOKEN (kept for this tab only)');
    if (!token) return;
  }
  try {
    const started = await getJson(`/api/dates/${date}/retry`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
    sessionStorage.setItem('monitorToken', token);
    alert(`retry started: ${started.workflowId}`);
  } catch (err) {
    if (/token/.test(err.message)) sessionStorage.removeItem('monitorToken');
    alert(`retry refused: ${err.message}`);
  }
}

function renderDate(d) {
  const done = d.clips.stored + d.clips.uploaded;
  const total = Object.values(d.clips).reduce((a, b) => a + b, 0);
  return el(
    'div',
    { class: 'date', 'data-date': d.date },
    el(
      'h3',
      {},
      d.date,
      statusBadge(d.status),
      el('span', { class: 'muted' }, `workflow: ${d.workflow.state}`),
      el('span', { class: 'muted' }, `${done}/${total} clips ok, ${d.clips.failed} failed`),
      d.status === 'failed' || d.status === 'completed_with_errors'
        ? el('button', { type: 'button', onclick: () => retryDate(d.date) }, 'Retry')
        : null,
    ),
    d.archives.length === 0 ? el('p', { class: 'muted' }, 'no archives yet') : null,
    d.archives.map((a) =>
      el(
        'div',
        { class: 'archive', 'data-archive': a.archive },
        el('span', {}, a.archive),
        progressBar(a.progress, a.status, `archive ${a.archive}`),
        el(
          'span',
          {},
          statusBadge(a.status),
          ` ${a.files_done}/${a.files_total} ok, ${a.files_failed} failed`,
        ),
        a.error ? el('div', { class: 'error' }, a.error) : null,
      ),
    ),
  );
}

async function refresh() {
  try {
    const [health, status] = await Promise.all([getJson('/health'), getJson('/api/status')]);
    const h = $('health');
    h.className = `health ${health.status === 'ok' ? 'ok' : 'bad'}`;
    h.textContent = `database ${health.database.ok ? 'ok' : 'down'} · Temporal ${
      health.temporal.reachable ? 'ok' : 'unknown'
    }`;
    renderOverview(status);
    const dates = await Promise.all(
      status.dates.slice(0, DATES_SHOWN).map((d) => getJson(`/api/dates/${d.date}`)),
    );
    $('dates').replaceChildren(
      ...(dates.length ? dates.map(renderDate) : [el('p', { class: 'muted' }, 'no dates processed yet')]),
    );
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $('health').className = 'health bad';
    $('health').textContent = `monitor unreachable: ${err.message}`;
  }
}

function audioPlayer(url) {
  return el('audio', { controls: '', preload: 'metadata', src: url });
}

async function search(event) {
  event.preventDefault();
  const params = new URLSearchParams({ q: $('search-q').value });
  if ($('search-language').value) params.set('language', $('search-language').value);
  if ($('search-date').value) params.set('date', $('search-date').value);
  const info = $('search-info');
  try {
    const { hits } = await getJson(`/api/search?${params}`);
    info.textContent = `${hits.length} hit(s)`;
    $('search-results').replaceChildren(
      ...hits.map((hit) =>
        el(
          'li',
          { class: 'hit', 'data-clip': hit.id },
          el('a', { href: `#/clip/${encodeURIComponent(hit.id)}` }, hit.id),
          el('span', { class: 'muted' }, ` ${hit.date} · ${hit.archive} · ${hit.language ?? '?'}`),
          el(
            'p',
            { class: 'snippet' },
            hit.parts.map((p) => (p.hit ? el('mark', {}, p.text) : p.text)),
          ),
          audioPlayer(hit.audio_url),
        ),
      ),
    );
  } catch (err) {
    info.textContent = `search failed: ${err.message}`;
    $('search-results').replaceChildren();
  }
}

const time = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;

async function showClip(id) {
  const page = $('clip');
  page.replaceChildren(el('p', { class: 'muted' }, 'loading…'));
  try {
    const clip = await getJson(`/api/clips/${encodeURIComponent(id)}`);
    const player = audioPlayer(clip.audio_url);
    const fields = [
      'date',
      'archive',
      'status',
      'error',
      'duration_s',
      'language',
      'language_prob',
      'no_speech',
      'model',
      'description',
      'hashtags',
      'create_time',
      'region',
      'music_title',
      'author_unique_id',
      'author_nickname',
      'play_count',
      'storage_uri',
    ];
    page.replaceChildren(
      el('p', {}, el('a', { href: '#/' }, '← dashboard')),
      el('h2', {}, `clip ${clip.id}`),
      player,
      el(
        'dl',
        { class: 'meta' },
        fields
          .filter((f) => clip[f] !== null && clip[f] !== undefined)
          .flatMap((f) => [
            el('dt', {}, f.replaceAll('_', ' ')),
            el('dd', {}, Array.isArray(clip[f]) ? clip[f].join(', ') : clip[f]),
          ]),
      ),
      el('h2', {}, 'Transcript'),
      el('p', { class: 'transcript' }, clip.text ?? '(none)'),
      el(
        'table',
        { class: 'segments' },
        (clip.segments ?? []).map((s) =>
          el(
            'tr',
            {
              onclick: () => {
                player.currentTime = s.start;
                player.play();
              },
            },
            el('td', {}, `${time(s.start)} – ${time(s.end)}`),
            el('td', {}, s.text),
          ),
        ),
      ),
    );
  } catch (err) {
    page.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← dashboard')), el('p', {}, err.message));
  }
}

function route() {
  const clip = /^#\/clip\/(.+)$/.exec(location.hash);
  $('home').hidden = Boolean(clip);
  $('clip').hidden = !clip;
  if (clip) showClip(decodeURIComponent(clip[1]));
}

$('search-form').addEventListener('submit', search);
window.addEventListener('hashchange', route);
route();
refresh();
setInterval(() => {
  if (!$('home').hidden) refresh();
}, POLL_MS);
