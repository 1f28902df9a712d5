/* global window, document, navigator, location, history, setInterval, clearInterval, URLSearchParams */
/**
 * The Callgate demo call: pick a room and a name, join, and talk to everyone else in the room
 * over a full-mesh WebRTC call. Tokens come from the dev server's `POST /dev/token`; the SDK
 * (`@callgate/client`) connects, refreshes them in-band, and negotiates the mesh.
 *
 * `window.__callgate` is a read-only snapshot of the call for tests and curious developers.
 */
import { createClient, createMeshCall } from '@callgate/client';
import { devTokenSource } from './dev-token.js';
import { devSessionSource } from './dev-session.js';
import { selectedPath } from './path-stats.js';
import { Tile } from './tiles.js';

const ROOM_NAME = /^[A-Za-z0-9._:-]{1,128}$/;
const STATS_INTERVAL_MS = 1000;
const CONNECT_TIMEOUT_MS = 15_000;
const MAX_CHAT_LENGTH = 500;
const LOCAL = 'local';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const ui = {
  joinView: $('join-view'),
  joinForm: /** @type {HTMLFormElement} */ ($('join-form')),
  nameInput: /** @type {HTMLInputElement} */ ($('name-input')),
  roomInput: /** @type {HTMLInputElement} */ ($('room-input')),
  relayInput: /** @type {HTMLInputElement} */ ($('relay-input')),
  joinButton: /** @type {HTMLButtonElement} */ ($('join-button')),
  joinError: $('join-error'),
  callView: $('call-view'),
  grid: $('grid'),
  toolbar: $('toolbar'),
  roomTitle: $('room-title'),
  roomName: $('room-name'),
  relayFlag: $('relay-flag'),
  micToggle: /** @type {HTMLButtonElement} */ ($('mic-toggle')),
  cameraToggle: /** @type {HTMLButtonElement} */ ($('camera-toggle')),
  leaveButton: /** @type {HTMLButtonElement} */ ($('leave-button')),
  statusSignal: $('status-signal'),
  statusPeer: $('status-peer'),
  statusExpiry: $('status-expiry'),
  statusRefreshes: $('status-refreshes'),
  statusPolicy: $('status-policy'),
  statusInvite: /** @type {HTMLAnchorElement} */ ($('status-invite')),
  notice: $('notice'),
  chatLog: $('chat-log'),
  chatForm: /** @type {HTMLFormElement} */ ($('chat-form')),
  chatInput: /** @type {HTMLInputElement} */ ($('chat-input')),
  chatSend: /** @type {HTMLButtonElement} */ ($('chat-send')),
};

/**
 * @typedef {object} ChatMessage
 * @property {string} from the sender's peer id
 * @property {string} name the sender's display name (from the server's presence, not the message)
 * @property {string} text
 * @property {number} at ms since the epoch, when it arrived
 */

/**
 * @typedef {object} Call
 * @property {string} room
 * @property {string} name
 * @property {boolean} relayOnly
 * @property {import('@callgate/client').CallgateClient} client
 * @property {import('@callgate/client').MeshCall | null} mesh
 * @property {MediaStream | null} localStream
 * @property {Map<string, Tile>} tiles by peer id, and "local"
 * @property {Map<string, import('./path-stats.js').SelectedPath | null>} paths
 * @property {number} tokenExpiresAt
 * @property {number} refreshCount
 * @property {number} lastRefreshAt
 * @property {import('./dev-token.js').IssuedToken | null} pendingRefresh
 * @property {ChatMessage[]} messages received over data channels
 * @property {ReturnType<typeof setInterval> | undefined} timer
 * @property {Array<() => void>} off
 * @property {(() => Promise<void>) | undefined} [endSession] ends the browser session (`?session=1`)
 */

/** @type {Call | null} */
let call = null;

// ---------------------------------------------------------------------------------------------
// Joining and leaving

const params = new URLSearchParams(location.search);
ui.roomInput.value = params.get('room') ?? 'lobby';
ui.nameInput.value = params.get('name') ?? '';
ui.relayInput.checked = params.get('relay') === '1';
/** Token lifetime for the dev route (`?ttl=12` makes refreshes easy to watch). */
const ttlParam = Number(params.get('ttl'));
const ttlSeconds = Number.isInteger(ttlParam) && ttlParam > 0 ? ttlParam : undefined;
/** `?session=1`: tokens from a browser session (HttpOnly refresh cookie) instead of /dev/token. */
const sessionMode = params.get('session') === '1';

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = ui.nameInput.value.trim();
  const room = ui.roomInput.value.trim();
  if (name === '') return joinFailed('Please enter your name.', ui.nameInput);
  if (!ROOM_NAME.test(room))
    return joinFailed('Room names use letters, digits and . _ : - (up to 128).', ui.roomInput);
  void join({ room, name, relayOnly: ui.relayInput.checked });
});

/**
 * @param {string} message
 * @param {HTMLInputElement} [field]
 */
function joinFailed(message, field) {
  ui.joinError.textContent = message;
  ui.joinButton.disabled = false;
  ui.joinButton.textContent = 'Join';
  field?.setAttribute('aria-invalid', 'true');
  field?.focus();
}

/** @param {{ room: string, name: string, relayOnly: boolean }} options */
async function join({ room, name, relayOnly }) {
  ui.joinError.textContent = '';
  ui.nameInput.removeAttribute('aria-invalid');
  ui.roomInput.removeAttribute('aria-invalid');
  ui.joinButton.disabled = true;
  ui.joinButton.textContent = 'Joining…';

  const camera = await openCamera();
  /** @type {Call} */
  const c = {
    room,
    name,
    relayOnly,
    client: /** @type {any} */ (null),
    mesh: null,
    localStream: camera.stream,
    tiles: new Map(),
    paths: new Map(),
    tokenExpiresAt: 0,
    refreshCount: 0,
    lastRefreshAt: 0,
    pendingRefresh: null,
    messages: [],
    timer: undefined,
    off: [],
  };
  const getToken = (sessionMode ? devSessionSource : devTokenSource)({
    room,
    name,
    ttlSeconds,
    onIssued: (issued) => {
      if (issued.reason === 'refresh') c.pendingRefresh = issued;
    },
  });
  c.client = createClient({ url: location.origin.replace(/^http/, 'ws'), getToken });
  c.endSession = 'logout' in getToken ? getToken.logout : undefined;
  call = c;
  followClient(c);
  showCall(c);
  if (camera.problem) notify(camera.problem);

  try {
    await withTimeout(
      c.client.connect(),
      CONNECT_TIMEOUT_MS,
      'The signaling server did not answer',
    );
    // Mesh before join: the join's presence snapshot then reaches it as `peerJoined` events.
    startMesh(c);
    await c.client.join(room);
  } catch (error) {
    if (call !== c) return;
    await leave(c);
    joinFailed(`Could not join: ${messageOf(error)}`);
    return;
  }
  history.replaceState(null, '', `?${inviteParams(c)}`);
  renderStatus(c);
}

/** @returns {Promise<{ stream: MediaStream | null, problem: string }>} */
async function openCamera() {
  const devices = navigator.mediaDevices;
  if (!devices?.getUserMedia)
    return { stream: null, problem: 'This page cannot use a camera here (not a secure origin?).' };
  const video = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24 } };
  /** @type {unknown} */
  let last;
  for (const constraints of [{ video, audio: true }, { video }, { audio: true }]) {
    try {
      return { stream: await devices.getUserMedia(constraints), problem: '' };
    } catch (error) {
      last = error;
      if (/** @type {Error} */ (error).name === 'NotAllowedError') break;
    }
  }
  return {
    stream: null,
    problem: `No camera or microphone (${messageOf(last)}): you can still see and hear the others.`,
  };
}

/**
 * Hangs up: closes every peer connection (the others get `bye` and drop this tile), closes
 * the signaling connection and stops the camera.
 *
 * @param {Call} c
 */
async function leave(c) {
  if (call !== c) return;
  call = null;
  clearInterval(c.timer);
  for (const off of c.off) off();
  c.mesh?.close();
  for (const tile of c.tiles.values()) tile.remove();
  for (const track of c.localStream?.getTracks() ?? []) track.stop();
  showJoin();
  await c.client.close();
  await c.endSession?.().catch(() => {});
}

ui.leaveButton.addEventListener('click', () => {
  if (call) void leave(call);
});

// Closing the tab hangs up at once, so the others do not wait for a timeout.
window.addEventListener('pagehide', () => {
  if (call) void leave(call);
});

// ---------------------------------------------------------------------------------------------
// Signaling and the mesh

/** @param {Call} c */
function followClient(c) {
  const { client } = c;
  c.off.push(
    client.on('state', ({ state, reason }) => {
      renderStatus(c);
      if (state === 'disconnected' && call === c) {
        void leave(c);
        joinFailed(`Disconnected by the server (${reason?.reason || reason?.code || 'closed'}).`);
      }
    }),
    client.on('welcome', (welcome) => {
      // A (re)connect: its token is the current one; an unfinished refresh died with the socket.
      c.pendingRefresh = null;
      c.tokenExpiresAt = welcome.expiresAt;
      renderStatus(c);
    }),
    // The SDK has no "refreshed" event; a refresh ack is the only source of new ICE servers
    // outside a welcome (which clears pendingRefresh first), so this marks a completed refresh.
    client.on('iceServers', () => {
      const issued = c.pendingRefresh;
      if (!issued) return;
      c.pendingRefresh = null;
      c.tokenExpiresAt = issued.expiresAt;
      c.refreshCount++;
      c.lastRefreshAt = Date.now();
      renderStatus(c);
    }),
    client.on('peerJoined', ({ room, peer }) => {
      if (room === c.room) notify(`${displayName(peer)} joined.`);
    }),
    client.on('peerLeft', ({ room, peer }) => {
      if (room === c.room && call === c) notify(`${displayName(peer)} left.`);
    }),
    client.on('error', (error) => notify(`Signaling: ${error.code} (${error.message})`)),
  );
}

/** @param {Call} c */
function startMesh(c) {
  const mesh = createMeshCall(c.client, c.room, {
    localStream: c.localStream,
    iceTransportPolicy: c.relayOnly ? 'relay' : 'all',
    dataChannel: true,
  });
  c.mesh = mesh;
  mesh.on('peerAdded', ({ peerId }) => remoteTile(c, peerId));
  mesh.on('remoteStream', ({ peerId, stream }) => remoteTile(c, peerId).setStream(stream));
  mesh.on('peerConnectionState', ({ peerId, state }) => {
    remoteTile(c, peerId).setState(state);
    if (state === 'connected') void refreshPath(c, peerId);
  });
  mesh.on('dataChannelOpen', () => renderChatControls(c));
  mesh.on('dataChannelMessage', ({ peerId, data }) => receiveChat(c, peerId, data));
  mesh.on('peerRemoved', ({ peerId }) => {
    c.tiles.get(peerId)?.remove();
    c.tiles.delete(peerId);
    c.paths.delete(peerId);
    renderChatControls(c);
    renderGrid();
  });
  mesh.on('error', ({ error }) => console.warn('mesh:', error));
  // Peers already known when the mesh was made (a relay switch mid-call) were added before
  // these listeners existed.
  for (const peerId of mesh.peerIds) remoteTile(c, peerId);
}

/**
 * The switch in the toolbar: a new mesh with the other ICE transport policy. Closing the old
 * one sends `bye`, so the others drop their connection and accept the new offers.
 *
 * @param {Call} c
 */
function switchRelay(c) {
  c.relayOnly = !c.relayOnly;
  c.mesh?.close();
  for (const [id, tile] of c.tiles) {
    if (id === LOCAL) continue;
    tile.remove();
    c.tiles.delete(id);
  }
  c.paths.clear();
  startMesh(c);
  renderStatus(c);
  renderGrid();
  history.replaceState(null, '', `?${inviteParams(c)}`);
  notify(c.relayOnly ? 'Relay only: media now goes through TURN.' : 'Direct paths allowed again.');
}

// ---------------------------------------------------------------------------------------------
// Tiles and stats

/**
 * @param {Call} c
 * @param {string} peerId
 */
function remoteTile(c, peerId) {
  let tile = c.tiles.get(peerId);
  if (!tile) {
    tile = new Tile(peerId, false);
    tile.setName(nameOf(c, peerId));
    c.tiles.set(peerId, tile);
    ui.grid.append(tile.root);
    renderGrid();
  }
  return tile;
}

/** @param {Call} c */
async function refreshStats(c) {
  if (!c.mesh) return;
  await Promise.all(c.mesh.peerIds.map((peerId) => refreshPath(c, peerId)));
  for (const [id, tile] of c.tiles) if (id !== LOCAL) tile.setName(nameOf(c, id));
  renderStatus(c);
  renderChatControls(c);
}

/**
 * @param {Call} c
 * @param {string} peerId
 */
async function refreshPath(c, peerId) {
  const pc = c.mesh?.connection(peerId);
  const path = await selectedPath(pc);
  const tile = c.tiles.get(peerId);
  if (!tile || c.mesh?.connection(peerId) !== pc) return; // removed or replaced meanwhile
  c.paths.set(peerId, path);
  tile.setPath(path);
  if (pc) tile.setState(pc.connectionState);
}

/** The grid's column count follows the number of tiles (see style.css). */
function renderGrid() {
  ui.grid.dataset.count = String(Math.min(ui.grid.childElementCount, 9));
}

// ---------------------------------------------------------------------------------------------
// Chat over the data channels

ui.chatForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const c = call;
  const text = ui.chatInput.value.trim().slice(0, MAX_CHAT_LENGTH);
  if (!c?.mesh || text === '') return;
  const sent = c.mesh.sendData(JSON.stringify({ type: 'chat', text }));
  if (sent === 0) return notify('Nobody is connected yet: your message was not sent.');
  appendChat({ name: 'You', text, at: Date.now(), self: true });
  ui.chatInput.value = '';
  ui.chatInput.focus();
});

/**
 * @param {Call} c
 * @param {string} peerId
 * @param {string | ArrayBuffer} data
 */
function receiveChat(c, peerId, data) {
  if (typeof data !== 'string') return;
  /** @type {unknown} */
  let parsed;
  try {
    parsed = JSON.parse(data);
  } catch {
    return;
  }
  const msg = /** @type {{ type?: unknown, text?: unknown }} */ (parsed);
  if (msg?.type !== 'chat' || typeof msg.text !== 'string') return;
  const message = {
    from: peerId,
    name: nameOf(c, peerId),
    text: msg.text.slice(0, MAX_CHAT_LENGTH),
    at: Date.now(),
  };
  c.messages.push(message);
  appendChat({ ...message, self: false });
}

/** @param {{ name: string, text: string, at: number, self: boolean }} message */
function appendChat({ name, text, at, self }) {
  const item = document.createElement('li');
  item.className = self ? 'chat-item self' : 'chat-item';
  const head = document.createElement('span');
  head.className = 'chat-meta';
  const who = document.createElement('strong');
  who.textContent = name;
  const time = document.createElement('time');
  time.dateTime = new Date(at).toISOString();
  time.textContent = clockTime(at);
  head.append(who, ' ', time);
  const body = document.createElement('span');
  body.className = 'chat-text';
  body.textContent = text; // text, never HTML: it comes from another browser
  item.append(head, body);
  ui.chatLog.append(item);
  ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
}

/** @param {Call} c */
function renderChatControls(c) {
  const open = c.mesh?.peerIds.some((id) => c.mesh?.dataChannel(id)?.readyState === 'open');
  ui.chatSend.disabled = !open;
  ui.chatInput.disabled = !open;
  ui.chatInput.placeholder = open ? 'Say hello to everyone' : 'Waiting for someone to join…';
}

// ---------------------------------------------------------------------------------------------
// Controls

ui.micToggle.addEventListener('click', () => toggleTracks('audio', ui.micToggle));
ui.cameraToggle.addEventListener('click', () => toggleTracks('video', ui.cameraToggle));

/**
 * @param {'audio' | 'video'} kind
 * @param {HTMLButtonElement} button
 */
function toggleTracks(kind, button) {
  const tracks =
    kind === 'audio' ? call?.localStream?.getAudioTracks() : call?.localStream?.getVideoTracks();
  if (!tracks?.length) return;
  const off = button.getAttribute('aria-pressed') !== 'true';
  for (const track of tracks) track.enabled = !off;
  button.setAttribute('aria-pressed', String(off));
  if (kind === 'audio') {
    button.textContent = off ? 'Unmute mic' : 'Mute mic';
    call?.tiles.get(LOCAL)?.setMicOff(off);
  } else {
    button.textContent = off ? 'Start camera' : 'Stop camera';
    call?.tiles.get(LOCAL)?.setCameraOff(off);
  }
}

/** The relay switch in the status panel, made in code so it exists only during a call. */
const relaySwitch = document.createElement('button');
relaySwitch.type = 'button';
relaySwitch.className = 'switch';
relaySwitch.id = 'relay-switch';
relaySwitch.setAttribute('role', 'switch');
relaySwitch.textContent = 'Relay only';
relaySwitch.addEventListener('click', () => {
  if (call?.mesh) switchRelay(call);
});

// ---------------------------------------------------------------------------------------------
// Views and status

/** @param {Call} c */
function showCall(c) {
  ui.joinView.hidden = true;
  ui.callView.hidden = false;
  ui.toolbar.hidden = false;
  ui.roomTitle.hidden = false;
  ui.roomName.textContent = c.room;
  ui.chatLog.replaceChildren();
  ui.notice.textContent = '';
  for (const button of [ui.micToggle, ui.cameraToggle]) {
    button.setAttribute('aria-pressed', 'false');
    button.disabled = !c.localStream;
  }
  ui.micToggle.textContent = 'Mute mic';
  ui.cameraToggle.textContent = 'Stop camera';
  ui.micToggle.disabled = !c.localStream?.getAudioTracks().length;
  ui.cameraToggle.disabled = !c.localStream?.getVideoTracks().length;

  const self = new Tile(LOCAL, true);
  self.setName(`${c.name} (you)`);
  self.setStream(c.localStream);
  if (!c.localStream?.getVideoTracks().length) self.setPlaceholder('No camera');
  c.tiles.set(LOCAL, self);
  ui.grid.replaceChildren(self.root);
  renderGrid();
  renderChatControls(c);
  ui.statusPolicy.replaceChildren(relaySwitch);
  renderStatus(c);
  c.timer = setInterval(() => {
    if (call === c) void refreshStats(c);
  }, STATS_INTERVAL_MS);
}

function showJoin() {
  ui.callView.hidden = true;
  ui.toolbar.hidden = true;
  ui.roomTitle.hidden = true;
  ui.joinView.hidden = false;
  ui.grid.replaceChildren();
  ui.joinButton.disabled = false;
  ui.joinButton.textContent = 'Join';
}

/** @param {Call} c */
function renderStatus(c) {
  if (call !== c) return;
  const state = c.client.state;
  ui.statusSignal.textContent = state;
  ui.statusSignal.dataset.state = state;
  ui.statusPeer.textContent = c.client.peerId ?? '–';
  if (c.tokenExpiresAt > 0) {
    const seconds = Math.max(0, Math.round((c.tokenExpiresAt - Date.now()) / 1000));
    ui.statusExpiry.textContent = `in ${seconds} s (${clockTime(c.tokenExpiresAt)})`;
  }
  ui.statusRefreshes.textContent =
    c.refreshCount === 0 ? '0' : `${c.refreshCount} (last ${clockTime(c.lastRefreshAt)})`;
  ui.statusRefreshes.dataset.count = String(c.refreshCount);
  relaySwitch.setAttribute('aria-checked', String(c.relayOnly));
  relaySwitch.title = c.relayOnly
    ? 'Click to allow direct paths again'
    : 'Click to send media only through the TURN relay';
  ui.relayFlag.hidden = !c.relayOnly;
  const link = new URL(`?${inviteParams(c, false)}`, location.href).href;
  if (ui.statusInvite.href !== link) {
    ui.statusInvite.href = link;
    ui.statusInvite.textContent = link.replace(/^https?:\/\//, '');
    ui.statusInvite.title = link;
  }
}

/**
 * @param {Call} c
 * @param {boolean} [withName]
 */
function inviteParams(c, withName = true) {
  const p = new URLSearchParams({ room: c.room });
  if (withName) p.set('name', c.name);
  if (c.relayOnly) p.set('relay', '1');
  if (ttlSeconds !== undefined) p.set('ttl', String(ttlSeconds));
  if (sessionMode) p.set('session', '1');
  return p.toString();
}

/** @param {string} text */
function notify(text) {
  ui.notice.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * @param {Call} c
 * @param {string} peerId
 */
function nameOf(c, peerId) {
  const peer = c.client.peers(c.room)?.find((p) => p.peerId === peerId);
  return peer ? displayName(peer) : 'Guest';
}

/** @param {import('@callgate/client').PeerInfo} peer */
function displayName(peer) {
  const name = peer.metadata?.name;
  return typeof name === 'string' && name.trim() !== '' ? name.trim().slice(0, 40) : peer.userId;
}

/** @param {number} ms */
function clockTime(ms) {
  return new Date(ms).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} message
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, message) {
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (value) => {
        window.clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        window.clearTimeout(timer);
        reject(error);
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Read-only state for tests: a fresh frozen snapshot on every read.

Object.defineProperty(window, '__callgate', {
  enumerable: true,
  get() {
    const c = call;
    if (!c) return Object.freeze({ joined: false, peerIds: Object.freeze([]) });
    /** @type {Record<string, object>} */
    const peers = {};
    for (const peerId of c.mesh?.peerIds ?? []) {
      const video = c.tiles.get(peerId)?.video;
      const path = c.paths.get(peerId) ?? null;
      peers[peerId] = Object.freeze({
        name: nameOf(c, peerId),
        connectionState: c.mesh?.connection(peerId)?.connectionState ?? null,
        candidateType: path?.candidateType ?? null,
        remoteCandidateType: path?.remoteCandidateType ?? null,
        relayProtocol: path?.relayProtocol ?? null,
        dataChannel: c.mesh?.dataChannel(peerId)?.readyState ?? null,
        videoWidth: video?.videoWidth ?? 0,
        videoHeight: video?.videoHeight ?? 0,
      });
    }
    const local = c.tiles.get(LOCAL)?.video;
    return Object.freeze({
      joined: c.client.rooms.includes(c.room),
      room: c.room,
      name: c.name,
      relayOnly: c.relayOnly,
      signalState: c.client.state,
      peerId: c.client.peerId ?? null,
      sessionId: c.client.sessionId ?? null,
      peerIds: Object.freeze(Object.keys(peers)),
      peers: Object.freeze(peers),
      localVideo: Object.freeze({
        width: local?.videoWidth ?? 0,
        height: local?.videoHeight ?? 0,
      }),
      tokenExpiresAt: c.tokenExpiresAt,
      refreshCount: c.refreshCount,
      messages: Object.freeze(c.messages.map((m) => Object.freeze({ ...m }))),
    });
  },
});
