/* Vantage loader: README.md "Embedding", ARCHITECTURE.md.
 *
 * The one script an editor pastes. It runs on every page view of the host site, so it does as
 * little as it can: nothing before `load`, then (if this view is sampled and the reader sends no
 * privacy signal) one hidden frame from our origin once the browser is idle. This file is the
 * readable source; `scripts/build-widget.sh` minifies it into dist/widget/loader.js, and the
 * budget (1 KiB gzipped) is measured on that copy. */
(function (win, doc, nav) {
  var script = doc.currentScript;
  if (!script) return;
  var attr = function (name) { return script.getAttribute('data-' + name) };

  var site = attr('site');
  var sample = attr('sample');
  // An empty or unknown data-consent means opt-in (README "Consent"); only an absent one is `none`.
  var consent = attr('consent');
  if (consent == '') consent = 'opt-in';

  var origin, storage, storedConsent;
  try {
    origin = new URL(script.src).origin;
  } catch (e) {
    return;
  }

  // 1: this view may measure. Privacy signals, automation the snippet did not allow, and sampling
  // (default 10 %) come first: storage is read only by a view that may measure, because the first
  // localStorage access is a synchronous load of the origin's storage on the host's main thread.
  var measure = !(!site || nav.doNotTrack == '1' || win.doNotTrack == '1' || nav.globalPrivacyControl ||
      (nav.webdriver && attr('allow-automation') == null) || !(Math.random() < (sample == null ? .1 : +sample)));
  if (measure) try {
    storage = localStorage;
    if (storage.getItem('vantage-optout') == '1') measure = 0;
    storedConsent = storage.getItem('vantage-consent');
  } catch (e) {}
  // `consent` becomes the question embed.js must still ask, or 0 when there is none to ask.
  if (!measure || consent == 'none' || storedConsent == 'yes' || storedConsent == consent) consent = 0;

  function run() {
    (win.requestIdleCallback || setTimeout)(function () {
      if (doc.visibilityState == 'hidden' || doc.prerendering) return;
      // At most one measurement per browser per 10 minutes, and never after an opt-out.
      try {
        if (Date.now() - storage.getItem('vantage-l') < 6e5 || storage.getItem('vantage-optout') == '1') return;
        storage.setItem('vantage-l', Date.now());
      } catch (e) {}
      // The frame measures only once this page posts it {vantage:'start'} carrying the nonce of its
      // URL's fragment (frame.js says why); a page that merely frames /v1/frame.html gets nothing.
      var frame = doc.createElement('iframe');
      var nonce = Math.random().toString(36).slice(2);
      frame.setAttribute('sandbox', 'allow-scripts allow-same-origin');
      frame.setAttribute('aria-hidden', 'true');
      frame.referrerPolicy = 'no-referrer';
      frame.loading = 'eager';
      frame.title = 'Vantage';
      frame.tabIndex = -1;
      // display:none: the frame still loads and runs (its worker measures), but has no box, so
      // the host page does no layout, paint or compositing for it (same-process case).
      frame.style.display = 'none';
      frame.src = origin + '/v1/frame.html?site=' + encodeURIComponent(site) + '#' + nonce;
      frame.onload = function () {
        // Not if the reader opted out while the frame loaded (embed.js is then stopping it).
        try { if (storage.getItem('vantage-optout') == '1') return } catch (e) {}
        frame.contentWindow.postMessage({ vantage: 'start', n: nonce, a: attr('allow-automation') != null }, origin);
      };
      // The frame still holds queued reports: lift the 10-minute window so the next view retries.
      win.addEventListener('message', function (e) {
        if (e.origin == origin && e.data == 'vantage-retry') try { storage.removeItem('vantage-l') } catch (x) {}
      });
      doc.body.appendChild(frame);
    }, { timeout: 5e3 });
  }

  function start() {
    // embed.js: the consent question and the live badge, only where the page needs them.
    if (consent || attr('live') || doc.querySelector('[data-vantage-live]')) {
      doc.head.appendChild(doc.createElement('script')).src = origin + '/v1/embed.js#' + consent;
    }
    if (measure) consent && consent != 'notice' ? win.addEventListener('vantage-consent', run) : run();
  }

  doc.readyState == 'complete' ? start() : win.addEventListener('load', start);
})(window, document, navigator);
