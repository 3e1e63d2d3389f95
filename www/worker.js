// Vantage measurement worker (served from the collector's origin as /v1/worker.js, started by
// frame.js). The wasm is fetched, compiled, instantiated and run here, and every request is timed
// here: off the frame's main thread, which shares a process and a thread with the host page
// wherever the browser does not isolate sites (most of Android Chrome).
// Messages: in, the site key (start); out, {p: report} after each target (the frame keeps the
// latest for pagehide), then {r: report | undefined} once; in, {send: report} when the frame has
// queued it and still wants it sent; out, {sent: true | false} (true: done with it).
import init, { measure, deliver } from './w/vantage_widget.js';

onmessage = async ({ data: d }) => {
  if (d.send) return postMessage({ sent: await deliver('/v1/reports', d.send) });
  let r;
  try {
    await init();
    r = await measure('/v1/targets', d, p => postMessage({ p }));
  } catch (e) {}
  postMessage({ r });
};
