import type { Duplex } from 'node:stream';

/**
 * Called, as a method of the socket, with how many bytes a read put into the shared buffer.
 * The buffer is reused by the next read of any socket: bytes kept past the call must be copied.
 */
export type SharedReadCallback = (this: Duplex, nread: number, buffer: Buffer) => void;

/** Every socket's reads land here, one at a time (libuv reads up to its length at once). */
const SHARED = Buffer.allocUnsafeSlow(64 * 1024);

/** Handles whose reads can go to a caller's buffer: plain TCP and pipes (never TLS). */
const PLAIN_HANDLES = new Set(['TCP', 'Pipe']);

interface ReadFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

type NodeSocket = Duplex &
  Record<symbol, unknown> & {
    _handle?: { constructor?: { name?: string }; useUserBuffer?: (b: Buffer) => void } | null;
  };

/** The socket fields behind Node's `onread` option, found once; null where they are not. */
let fields: ReadFields | null | undefined;

function readFields(socket: NodeSocket): ReadFields | null {
  if (fields !== undefined) return fields;
  const bySymbol = new Map<string, symbol>();
  for (const s of Object.getOwnPropertySymbols(socket))
    if (s.description !== undefined) bySymbol.set(s.description, s);
  const buffer = bySymbol.get('kBuffer');
  const callback = bySymbol.get('kBufferCb');
  const generator = bySymbol.get('kBufferGen');
  fields = buffer && callback && generator ? { buffer, callback, generator } : null;
  return fields;
}

/**
 * Makes a socket's reads go into one buffer shared by every socket, handed to `onRead` with the
 * byte count, instead of a new `ArrayBuffer` per read. Returns false, changing nothing, when
 * that is not possible here; the caller then reads `data` events as before.
 *
 * Why: Node allocates a fresh buffer for each socket read by default. At tens of thousands of
 * reads per second those buffers are most of what each young-generation GC pause frees (its
 * "sweep array buffers" phase) and an allocation and a copy per read (BENCHMARKS.md). Node's
 * own `onread` option (`net.Socket`, `socket.connect`) reads into a caller's buffer instead,
 * but `net.Server` has no way to set it for the sockets it accepts. This sets the two socket
 * fields that option sets (found by their symbols' descriptions, `kBuffer` and `kBufferCb`)
 * and calls the handle's `useUserBuffer`, which is what the option does when a socket is made;
 * from then on Node's own read path (`onStreamRead`), `pause()` and `resume()` treat the
 * socket as one made with `onread`.
 *
 * Refused (false): a Node without those fields or that method; a handle that is not plain TCP
 * or a pipe (TLS); a socket that already has `onread` set; a socket with no handle.
 */
export function readIntoSharedBuffer(socket: Duplex, onRead: SharedReadCallback): boolean {
  const s = socket as NodeSocket;
  const handle = s._handle;
  if (handle === undefined || handle === null || typeof handle.useUserBuffer !== 'function')
    return false;
  if (!PLAIN_HANDLES.has(handle.constructor?.name ?? '')) return false;
  const f = readFields(s);
  if (f === null) return false;
  if (s[f.buffer] !== null || s[f.callback] !== null || s[f.generator] !== null) return false;
  s[f.buffer] = SHARED;
  s[f.callback] = onRead;
  handle.useUserBuffer(SHARED);
  return true;
}
