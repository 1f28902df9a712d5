// How the load generator speaks to each server under test. Each adapter opens a connection,
// joins a room, sends a direct message, publishes to a room, and tells relayed messages apart
// from everything else. Every adapter uses the same raw WebSocket client (raw-ws.mjs) and
// builds its frames by string concatenation, so the generator does the same work per message
// whichever server it drives.
import { RawWs } from './raw-ws.mjs';

/**
 * @typedef {object} Client
 * @property {string} id            the id other clients address this one by
 * @property {RawWs} ws
 * @property {(text: string) => void} onMessage   a relayed message arrived (the whole frame)
 * @property {((text: string) => boolean) | null} waiter   one-shot matcher used during setup
 * @property {number} acks          acks received (Callgate acknowledges only requests with an `id`;
 *                                  the generator sends without, so this stays 0 past setup)
 *
 * @typedef {object} OpenOptions
 * @property {string} host
 * @property {number} port
 * @property {string} [localAddress]
 * @property {string} [token]       an access token (Callgate)
 * @property {number} index         a number unique within the run
 *
 * @typedef {object} Adapter
 * @property {string} name
 * @property {(o: OpenOptions) => Promise<Client>} open
 * @property {(c: Client, room: string) => Promise<void>} join
 * @property {(c: Client, to: string, data: string) => void} send
 * @property {(c: Client, room: string, data: string, members: Client[]) => void} publish
 * @property {boolean} serverRooms  false when a room is emulated by the client (PeerJS)
 */

/**
 * @param {RawWs} ws
 * @param {string} id
 * @returns {Client}
 */
function client(ws, id) {
  return { id, ws, onMessage: () => {}, waiter: null, acks: 0 };
}

/**
 * Resolves with the first frame `match` accepts (set as the client's waiter).
 *
 * @param {Client} c
 * @param {(text: string) => boolean} match
 * @param {number} [timeoutMs]
 * @returns {Promise<string>}
 */
function waitFor(c, match, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      c.waiter = null;
      reject(new Error('timed out waiting for a frame'));
    }, timeoutMs);
    c.waiter = (text) => {
      if (!match(text)) return false;
      clearTimeout(t);
      c.waiter = null;
      resolve(text);
      return true;
    };
  });
}

/**
 * Opens a socket and waits for the server's first frame, which `first` turns into the id.
 *
 * @param {OpenOptions} o
 * @param {string} path
 * @param {string[]} protocols
 * @param {(ws: RawWs, text: string) => string | undefined} first
 * @param {(c: Client, text: string) => void} dispatch
 * @returns {Promise<Client>}
 */
async function openWith(o, path, protocols, first, dispatch) {
  const ws = await RawWs.open({
    host: o.host,
    port: o.port,
    path,
    protocols,
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
  });
  const c = client(ws, '');
  /** @type {Promise<string>} */
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no first frame')), 20000);
    ws.onClose = () => {
      clearTimeout(t);
      reject(new Error('closed before the first frame'));
    };
    ws.onText = (text) => {
      const id = first(ws, text);
      if (id === undefined) return;
      clearTimeout(t);
      resolve(id);
    };
  });
  try {
    c.id = await ready;
  } catch (err) {
    ws.destroy();
    throw err;
  }
  ws.onClose = () => {};
  ws.onText = (text) => {
    if (c.waiter !== null && c.waiter(text)) return;
    dispatch(c, text);
  };
  return c;
}

/**
 * Callgate `callgate.v1`: token in the subprotocol list; `send`/`publish` without `id`, so they
 * are fire and forget like the peers' messages (an error would still come back, and fail the run).
 */
export const callgate = {
  name: 'callgate',
  serverRooms: true,
  /** @param {OpenOptions} o */
  open(o) {
    return openWith(
      o,
      '/v1/signal',
      ['callgate.v1', `bearer.${o.token}`],
      (_ws, text) => {
        if (!text.startsWith('{"type":"welcome"')) throw new Error(`unexpected ${text}`);
        // The id is read where it stands, as for the other servers' first frames: parsing the
        // whole welcome (591 bytes with its ICE servers) cost the generator more per connect
        // for Callgate than for the peers. Ids are base64url, never escaped.
        const at = text.indexOf('"peerId":"') + 10;
        const end = text.indexOf('"', at);
        if (at < 10 || end < 0) throw new Error(`welcome without peerId: ${text.slice(0, 80)}`);
        return text.slice(at, end);
      },
      (c, text) => {
        // `{"type":"message",...` versus `{"type":"ack"...`: the 10th character tells.
        if (text.charCodeAt(9) === 109) c.onMessage(text);
        else if (text.charCodeAt(9) === 97) c.acks++;
        else if (!text.startsWith('{"type":"presence"')) throw new Error(`unexpected ${text}`);
      },
    );
  },
  /**
   * @param {Client} c
   * @param {string} room
   */
  async join(c, room) {
    const p = waitFor(c, (t) => t.startsWith('{"type":"ack"') || t.startsWith('{"type":"error"'));
    c.ws.send(`{"type":"join","room":"${room}"}`);
    const r = await p;
    if (!r.startsWith('{"type":"ack"')) throw new Error(`join failed: ${r}`);
  },
  /**
   * @param {Client} c
   * @param {string} to
   * @param {string} data
   */
  send(c, to, data) {
    c.ws.send(`{"type":"send","to":"${to}","data":${data}}`);
  },
  /**
   * @param {Client} c
   * @param {string} room
   * @param {string} data
   */
  publish(c, room, data) {
    c.ws.send(`{"type":"publish","room":"${room}","data":${data}}`);
  },
};

/** The PeerJS server: `/peerjs?key=&id=&token=`, OFFER relayed to `dst`; no rooms. */
export const peerjs = {
  name: 'peerjs',
  serverRooms: false,
  /** @param {OpenOptions} o */
  open(o) {
    const id = `p${o.index}x${Math.random().toString(36).slice(2, 10)}`;
    return openWith(
      o,
      `/peerjs?key=peerjs&id=${id}&token=t${o.index}`,
      [],
      (_ws, text) => {
        if (!text.startsWith('{"type":"OPEN"')) throw new Error(`unexpected ${text}`);
        return id;
      },
      (c, text) => {
        if (text.startsWith('{"type":"OFFER"')) c.onMessage(text);
        else throw new Error(`unexpected ${text}`);
      },
    );
  },
  async join() {
    // No rooms: a room is the list of member ids the client keeps itself.
  },
  /**
   * @param {Client} c
   * @param {string} to
   * @param {string} data
   */
  send(c, to, data) {
    c.ws.send(`{"type":"OFFER","dst":"${to}","payload":${data}}`);
  },
  /**
   * A room broadcast the PeerJS way: one message per other member, sent by the client.
   *
   * @param {Client} c
   * @param {string} _room
   * @param {string} data
   * @param {Client[]} members
   */
  publish(c, _room, data, members) {
    for (const m of members) if (m !== c) this.send(c, m.id, data);
  },
};

let sioAck = 0;

/** Socket.IO 4 (Engine.IO v4) over the websocket transport only, as socket.io-client speaks it. */
export const socketio = {
  name: 'socketio',
  serverRooms: true,
  /** @param {OpenOptions} o */
  open(o) {
    return openWith(
      o,
      '/socket.io/?EIO=4&transport=websocket',
      [],
      (ws, text) => {
        // Engine.IO open packet, then the Socket.IO CONNECT to the main namespace.
        if (text.startsWith('0{')) {
          ws.send('40');
          return undefined;
        }
        if (text.startsWith('40{'))
          return /** @type {{ sid: string }} */ (JSON.parse(text.slice(2))).sid;
        if (text === '2') {
          ws.send('3');
          return undefined;
        }
        throw new Error(`unexpected ${text}`);
      },
      (c, text) => {
        if (text.startsWith('42["msg"')) c.onMessage(text);
        else if (text === '2') c.ws.send('3');
        else throw new Error(`unexpected ${text}`);
      },
    );
  },
  /**
   * @param {Client} c
   * @param {string} room
   */
  async join(c, room) {
    const n = ++sioAck;
    const p = waitFor(c, (t) => t.startsWith(`43${n}[`));
    c.ws.send(`42${n}["join","${room}"]`);
    await p;
  },
  /**
   * @param {Client} c
   * @param {string} to
   * @param {string} data
   */
  send(c, to, data) {
    c.ws.send(`42["send","${to}",${data}]`);
  },
  /**
   * @param {Client} c
   * @param {string} room
   * @param {string} data
   */
  publish(c, room, data) {
    c.ws.send(`42["pub","${room}",${data}]`);
  },
};

/** @type {Record<string, Adapter>} */
// `ceiling` (servers/ceiling.mjs) answers like PeerJS: an `OPEN` frame after the 101.
export const adapters = { callgate, peerjs, socketio, ceiling: peerjs };
