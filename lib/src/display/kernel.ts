/**
 * The bridge to the tslab kernel this code may be running in: sends
 * display_data and update_display_data messages with a MIME bundle.
 *
 * Why not tslab's public `display`: its `raw(mime, value)` puts exactly one
 * MIME type into each message, so a chart would become two outputs (an
 * interactive Vega-Lite one and a static SVG one, both shown by JupyterLab).
 * A Jupyter display message may carry a bundle of several representations
 * of the same thing, and the frontend picks the richest it can render
 * (JupyterLab: Vega-Lite, rank 57, over SVG, rank 80; nbconvert and GitHub:
 * the SVG). tslab's `display.raw` is a thin wrapper over one function,
 * `lastWriteDisplayData(content, update)` of its jupyter module, which sends
 * `content` ({ data, metadata, transient }) as is; the data may hold any
 * number of MIME types. We call that function, found in the module cache of
 * the running kernel (requiring tslab ourselves would load its TypeScript
 * compiler into plain Node scripts). It is not public API: when it is not
 * there (another tslab version), each MIME type goes out through the public
 * `display.raw` instead, as separate outputs — still both representations,
 * just shown twice in JupyterLab.
 */
import path from 'node:path';

/** MIME type → representation, e.g. { 'image/svg+xml': '<svg…' }. */
export type MimeBundle = Record<string, unknown>;

interface DisplayContent {
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}

type WriteDisplayData = (content: DisplayContent, update: boolean) => void;
interface PublicDisplay {
  raw(contentType: string, b: string | Uint8Array): unknown;
}

const JUPYTER_MODULE = `${path.sep}tslab${path.sep}dist${path.sep}jupyter.js`;

/** tslab's jupyter module, if this process is a tslab kernel (it is loaded before any cell runs). */
function tslabJupyter(): { file: string; exports: { lastWriteDisplayData?: unknown } } | null {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (mod && file.endsWith(JUPYTER_MODULE)) return { file, exports: mod.exports as { lastWriteDisplayData?: unknown } };
  }
  return null;
}

/** How display messages get out of this process, or null outside a kernel. */
export interface KernelChannel {
  /** One message with the whole bundle (true), or one message per MIME type (the fallback). */
  bundles: boolean;
  /**
   * Sends now; false if the kernel's output socket was busy (nothing sent).
   * tslab sends on a zeromq socket without waiting, and zeromq refuses a
   * second send while one is in flight ("Socket is busy writing"): under
   * load, a progress update right after another output hits that. Thrown
   * into training code, it killed the run and even the cell's error report.
   */
  send(data: MimeBundle, opts?: { displayId?: string; update?: boolean }): boolean;
}

export function isSocketBusy(err: unknown): boolean {
  return /Socket is busy writing/.test(String((err as Error)?.message ?? err));
}

/** Runs a send; false instead of the busy error. */
function unlessBusy(send: () => void): boolean {
  try {
    send();
    return true;
  } catch (err) {
    if (isSocketBusy(err)) return false;
    throw err;
  }
}

/**
 * Sends, retrying every few milliseconds while the socket is busy (the
 * in-flight send finishes on the event loop, so waiting must yield). Gives
 * up after `timeoutMs` and resolves false.
 */
export async function sendWhenFree(
  channel: KernelChannel,
  data: MimeBundle,
  opts: { displayId?: string; update?: boolean } = {},
  timeoutMs = 10_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    if (channel.send(data, opts)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * `pin`: send with the writer of the cell running now, even when the send
 * comes after that cell finished (a chart then never lands in a later
 * cell). Unpinned, each send goes out as part of the cell running at that
 * moment, as tslab's own display does: right for a progress display
 * created in one cell and updated by training in the next.
 */
export function kernelChannel(opts: { pin?: boolean } = {}): KernelChannel | null {
  const jupyter = tslabJupyter();
  if (!jupyter) return null;
  const writer = () => jupyter.exports.lastWriteDisplayData;
  // Null between kernel start and the first executed cell: nowhere to send to.
  if (writer() === null) return null;
  if (typeof writer() === 'function') {
    // tslab replaces the function at every execute_request; each carries
    // that cell's message header.
    const pinned = opts.pin ? (writer() as WriteDisplayData) : null;
    return {
      bundles: true,
      send(data, opts = {}) {
        const write = pinned ?? (writer() as WriteDisplayData);
        return unlessBusy(() =>
          write({ data, metadata: {}, transient: opts.displayId ? { display_id: opts.displayId } : {} }, Boolean(opts.update)),
        );
      },
    };
  }
  // tslab's package root is two levels above dist/jupyter.js.
  const root = path.dirname(path.dirname(jupyter.file));
  let tslab: { display: PublicDisplay; newDisplay(): PublicDisplay };
  try {
    tslab = require(root);
  } catch {
    return null;
  }
  const displays = new Map<string, PublicDisplay>();
  return {
    bundles: false,
    send(data, opts = {}) {
      // The text stand-in would be an output of its own here: only when it is all there is.
      const entries = Object.entries(data).filter(([mime], _, all) => mime !== 'text/plain' || all.length === 1);
      for (const [mime, value] of entries) {
        // One updatable display per MIME type and display id.
        let target = tslab.display;
        if (opts.displayId) {
          const key = `${opts.displayId}\u0000${mime}`;
          if (!displays.has(key)) displays.set(key, tslab.newDisplay());
          target = displays.get(key)!;
        }
        const sent = unlessBusy(() =>
          target.raw(mime, typeof value === 'string' || value instanceof Uint8Array ? value : (value as string)),
        );
        if (!sent) return false; // the caller retries the whole bundle
      }
      return true;
    },
  };
}

export function inKernel(): boolean {
  return kernelChannel() !== null;
}
