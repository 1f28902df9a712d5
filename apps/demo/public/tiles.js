/* global document */
/**
 * The video grid: one tile per participant (the local camera first), each with a caption
 * showing the name, the connection state and the media path. Tiles carry their state in
 * `data-*` attributes too, so styles (and tests) can read it without parsing text.
 */

/** @typedef {'local' | 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed'} TileState */

/**
 * @typedef {object} PathInfo
 * @property {string} candidateType host, srflx, prflx or relay (the local candidate of the selected pair)
 * @property {string} [remoteCandidateType] the same for the remote candidate
 * @property {string} [relayProtocol] udp, tcp or tls, for a relay candidate
 * @property {number} [rttMs] the pair's current round-trip time
 */

/** What each connection state is called on the badge. */
const STATE_TEXT = {
  local: 'you',
  new: 'connecting',
  connecting: 'connecting',
  connected: 'connected',
  disconnected: 'reconnecting',
  failed: 'failed',
  closed: 'closed',
};

/**
 * @param {PathInfo | null} path
 * @returns {{ text: string, kind: string, title: string }}
 */
export function describePath(path) {
  if (!path) return { text: 'path: checking…', kind: 'unknown', title: 'No candidate pair yet' };
  const rtt = path.rttMs === undefined ? '' : ` · ${Math.round(path.rttMs)} ms`;
  if (path.candidateType === 'relay') {
    const via = path.relayProtocol ? `TURN/${path.relayProtocol}` : 'TURN';
    return {
      text: `relayed · ${via}${rtt}`,
      kind: 'relay',
      title: 'Media goes through the TURN relay (local candidate type: relay)',
    };
  }
  if (path.remoteCandidateType === 'relay') {
    return {
      text: `relayed · by peer${rtt}`,
      kind: 'relay',
      title: `Media goes through the other side's TURN relay (local candidate type: ${path.candidateType})`,
    };
  }
  return {
    text: `direct · ${path.candidateType}${rtt}`,
    kind: 'direct',
    title: `Media goes peer to peer (local candidate type: ${path.candidateType})`,
  };
}

/** One participant's tile. */
export class Tile {
  /**
   * @param {string} id a peer id, or "local"
   * @param {boolean} local
   */
  constructor(id, local) {
    this.id = id;
    this.local = local;
    this.root = el('figure', 'tile');
    this.root.setAttribute('role', 'listitem');
    this.root.dataset.peerId = id;
    this.video = /** @type {HTMLVideoElement} */ (el('video', 'tile-video'));
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = local; // never play one's own microphone back
    if (local) this.video.classList.add('mirrored');
    this.placeholder = el('div', 'tile-placeholder');
    this.placeholder.textContent = local ? 'Starting camera…' : 'Waiting for video…';
    this.caption = el('figcaption', 'tile-caption');
    this.nameEl = el('span', 'tile-name');
    this.stateEl = el('span', 'badge badge-state');
    this.pathEl = el('span', 'badge badge-path');
    /** @type {HTMLElement | undefined} */
    this.micEl = undefined;
    this.caption.append(this.nameEl, this.stateEl, this.pathEl);
    this.root.append(this.video, this.placeholder, this.caption);
    this.video.addEventListener('resize', () => this.#syncPlaceholder());
    this.video.addEventListener('loadeddata', () => this.#syncPlaceholder());
    this.setState(local ? 'local' : 'connecting');
    this.setPath(null);
    if (local) this.pathEl.hidden = true;
  }

  /** @param {string} name */
  setName(name) {
    if (this.nameEl.textContent !== name) this.nameEl.textContent = name;
    this.video.setAttribute('aria-label', `Video of ${name}`);
  }

  /** @param {TileState} state */
  setState(state) {
    this.root.dataset.state = state;
    this.stateEl.dataset.state = state;
    this.stateEl.textContent = STATE_TEXT[state] ?? state;
  }

  /** @param {PathInfo | null} path */
  setPath(path) {
    const d = describePath(path);
    this.root.dataset.path = d.kind;
    this.root.dataset.candidateType = path?.candidateType ?? '';
    this.pathEl.dataset.kind = d.kind;
    if (this.pathEl.textContent !== d.text) this.pathEl.textContent = d.text;
    this.pathEl.title = d.title;
  }

  /** @param {string} text shown over the video when it has no picture */
  setPlaceholder(text) {
    this.placeholder.textContent = text;
    this.#syncPlaceholder();
  }

  /** @param {MediaStream | null} stream */
  setStream(stream) {
    if (this.video.srcObject === stream) return;
    this.video.srcObject = stream;
    if (!stream) return this.#syncPlaceholder();
    this.video.play().catch(() => {
      // Autoplay with sound refused (no user gesture yet): play muted rather than not at all,
      // and unmute on the first click anywhere on the tile.
      if (this.local || this.video.muted) return;
      this.video.muted = true;
      this.root.title = 'Muted by the browser: click to unmute';
      void this.video.play().catch(() => {});
      const unmute = () => {
        this.video.muted = false;
        this.root.title = '';
      };
      this.root.addEventListener('click', unmute, { once: true });
    });
  }

  /** @param {boolean} off the local camera is switched off: show a placeholder, not black */
  setCameraOff(off) {
    this.root.dataset.camera = off ? 'off' : 'on';
    if (off) this.placeholder.textContent = 'Camera off';
    this.#syncPlaceholder();
  }

  /** @param {boolean} off the local microphone is muted: say so on the tile */
  setMicOff(off) {
    if (off && !this.micEl) {
      this.micEl = el('span', 'badge badge-muted');
      this.micEl.textContent = 'mic off';
      this.caption.append(this.micEl);
    } else if (!off && this.micEl) {
      this.micEl.remove();
      this.micEl = undefined;
    }
  }

  remove() {
    this.video.srcObject = null;
    this.root.remove();
  }

  #syncPlaceholder() {
    this.placeholder.hidden = this.video.videoWidth > 0 && this.root.dataset.camera !== 'off';
  }
}

/**
 * @param {string} tag
 * @param {string} className
 * @returns {HTMLElement}
 */
function el(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}
