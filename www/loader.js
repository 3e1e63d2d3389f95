/* Vantage loader: README.md "Embedding", ARCHITECTURE.md */
(function (w, d, n) {
  var s = d.currentScript, a = function (k) { return s.getAttribute('data-' + k) }, site, o, p, c, m = 1, k, L;
  if (!s) return;
  // An empty or unknown data-consent means opt-in (README "Consent"); only an absent one is `none`.
  site = a('site'); p = a('sample'); c = a('consent'); if (c == '') c = 'opt-in';
  try { o = new URL(s.src).origin; L = localStorage; if (L.getItem('vantage-optout') == '1') m = 0; k = L.getItem('vantage-consent') } catch (e) { if (!o) return }
  if (!site || n.doNotTrack == '1' || w.doNotTrack == '1' || n.globalPrivacyControl ||
      (n.webdriver && a('allow-automation') == null) || !(Math.random() < (p == null ? .1 : +p))) m = 0;
  if (!m || c == 'none' || k == 'yes' || k == c) c = 0;
  function run() {
    (w.requestIdleCallback || setTimeout)(function () {
      if (d.visibilityState == 'hidden' || d.prerendering) return;
      try { if (Date.now() - L.getItem('vantage-l') < 6e5 || L.getItem('vantage-optout') == '1') return; L.setItem('vantage-l', Date.now()) } catch (e) {}
      // The frame measures only once this page posts it {vantage:'start'} carrying the nonce of its
      // URL's fragment (frame.js says why); a page that merely frames /v1/frame.html gets nothing.
      var f = d.createElement('iframe'), N = Math.random().toString(36).slice(2);
      f.setAttribute('sandbox', 'allow-scripts allow-same-origin');
      f.setAttribute('aria-hidden', 'true');
      f.referrerPolicy = 'no-referrer';
      f.loading = 'eager';
      f.title = 'Vantage';
      f.tabIndex = -1;
      f.style.cssText = 'position:fixed;left:0;top:0;width:0;height:0;border:0;opacity:0;pointer-events:none';
      f.src = o + '/v1/frame.html?site=' + encodeURIComponent(site) + '#' + N;
      // Not if the reader opted out while the frame loaded (embed.js is then stopping it).
      f.onload = function () { try { if (L.getItem('vantage-optout') == '1') return } catch (e) {} f.contentWindow.postMessage({ vantage: 'start', n: N, a: a('allow-automation') != null }, o) };
      w.addEventListener('message', function (e) { if (e.origin == o && e.data == 'vantage-retry') try { L.removeItem('vantage-l') } catch (x) {} });
      d.body.appendChild(f);
    }, { timeout: 5e3 });
  }
  function go() {
    if (c || a('live') || d.querySelector('[data-vantage-live]')) d.head.appendChild(d.createElement('script')).src = o + '/v1/embed.js#' + c;
    m && (c && c != 'notice' ? w.addEventListener('vantage-consent', run) : run());
  }
  d.readyState == 'complete' ? go() : w.addEventListener('load', go);
})(window, document, navigator);
